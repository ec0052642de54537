"""Texts written for the filter tests: prose in English and Chinese, a mixed page, and the kinds of
junk quality filters exist for (spam, boilerplate, lists, loops)."""

EN_PROSE = (
    "The lighthouse keeper climbed the spiral stair before dawn and wound the great clock that "
    "turned the lens. From the gallery he could see the fishing boats leaving the harbour, "
    "their lamps still burning against the grey water. He wrote the weather in his log: a light "
    "wind from the west, a falling glass, and rain expected by evening. Then he trimmed the "
    "wicks, polished the brass, and went down to make his breakfast. In the afternoon a letter "
    "came with the supply boat. His sister wrote that the orchard had flowered early this year "
    "and that the children were learning to swim in the cold bay below the village."
)
ZH_PROSE = (
    "清晨，守灯人沿着螺旋楼梯登上灯塔，为转动灯镜的大钟上好发条。从回廊上，他能看见渔船驶出港湾，"
    "船上的灯在灰色的海面上依然亮着。他在日志里记下天气：西风轻拂，气压下降，傍晚可能有雨。"
    "随后，他修剪灯芯，擦亮铜器，然后下楼去做早饭。下午，补给船带来了一封信。他的妹妹在信中说，"
    "今年果园的花开得很早，孩子们正在村子下面寒冷的海湾里学游泳。"
)
MIXED_PAGE = EN_PROSE + "\n\n" + ZH_PROSE
FR_PROSE = (
    "Le gardien du phare montait l'escalier en colimaçon avant l'aube et remontait la grande "
    "horloge qui faisait tourner la lentille. Depuis la galerie, il voyait les bateaux de pêche "
    "quitter le port, leurs lanternes encore allumées sur l'eau grise."
)
SPAM = (
    "BUY NOW!!! best price $$$ click here >>> www.example.com #deal #deal #deal #sale #cheap "
    "#free #win ... limited offer ... act now ... 50% OFF ... 70% OFF ... 90% OFF ... "
) * 3
LOOP = "I am a helpful assistant and I will help you with that. " * 40
BULLETS = "\n".join(f"- item {n}: see the product page for details" for n in range(60))
LOREM = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 10 + EN_PROSE
MENU = "\n".join(
    ["Home", "About us", "Products", "Contact", "Login", "Privacy Policy", "Terms of Use"] * 8
)
