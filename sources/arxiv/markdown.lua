-- pandoc Lua filter: vlpipe's markdown conventions for arXiv papers, applied to pandoc's AST.
-- Numbered section headings as LaTeX prints them ("## 2.1 Model"); title/authors/abstract first;
-- "Figure N: caption" and "Table N: caption" paragraphs (images dropped: the page image shows
-- them); footnotes as a numbered paragraph after the paragraph citing them; links and citations
-- reduced to their text; display math alone in its paragraph; raw LaTeX pandoc did not
-- understand dropped, except tables (marked for a plain-text rendering of their cells). Read by vlpipe.sources.arxiv.pandoc.latex_to_markdown.

local sections = {0, 0, 0, 0, 0, 0}
local figures, tables, notes = 0, 0, 0
-- while a table float is read: whether its caption is printed (pandoc gives its caption to each
-- of the float's tables, and LaTeX prints it once)
local float_caption = nil

local function caption_para(label, number, blocks)
  local inlines = pandoc.List({pandoc.Str(label .. " " .. number .. ":"), pandoc.Space()})
  for _, block in ipairs(blocks) do
    if block.content then inlines:extend(block.content) end
  end
  return pandoc.Para(inlines)
end

function Header(h)
  local unnumbered = h.classes:includes("unnumbered")
  h.attr = pandoc.Attr()
  if unnumbered or h.level > 3 then return h end
  sections[h.level] = sections[h.level] + 1
  for level = h.level + 1, 6 do sections[level] = 0 end
  local parts = {}
  for level = 1, h.level do table.insert(parts, tostring(sections[level])) end
  h.content:insert(1, pandoc.Space())
  h.content:insert(1, pandoc.Str(table.concat(parts, ".")))
  return h
end

function Para(p)
  if #p.content == 1 and p.content[1].t == "Image" and p.content[1].title:match("^fig:") then
    figures = figures + 1
    return caption_para("Figure", figures, {pandoc.Plain(p.content[1].caption)})
  end
  local out, current = pandoc.List(), pandoc.List()
  for _, inline in ipairs(p.content) do
    if inline.t == "Image" then
    elseif inline.t == "Math" and inline.mathtype == "DisplayMath" then
      if #current > 0 then out:insert(pandoc.Para(current)) end
      out:insert(pandoc.Para({inline}))
      current = pandoc.List()
    elseif not (#current == 0 and (inline.t == "Space" or inline.t == "SoftBreak")) then
      current:insert(inline)
    end
  end
  if #current > 0 then out:insert(pandoc.Para(current)) end
  return out
end

function Figure(f)
  figures = figures + 1
  return caption_para("Figure", figures, f.caption.long)
end

function Table(t)
  if #t.caption.long == 0 then return t end  -- a bare tabular: LaTeX numbers only captions
  if float_caption then
    t.caption.long = pandoc.List()
    return t
  end
  if float_caption == false then float_caption = true end
  tables = tables + 1
  local caption = caption_para("Table", tables, t.caption.long)
  t.caption.long = pandoc.List()
  return {caption, t}
end

function Link(l) return l.content end
-- math already: a macro's \ensuremath{…} (vlpipe's \TextOrMath) is its group
-- Code as a fenced block, with its language where it has one (pandoc indents a block without
-- attributes): one way to write code, whose fences the page split closes and opens again where
-- a listing runs over pages. The fence is longer than any run of backticks in the code.
function CodeBlock(block)
  local fence = "```"
  for run in block.text:gmatch("`+") do
    if #run >= #fence then fence = string.rep("`", #run + 1) end
  end
  local language = block.classes[1] and (" " .. block.classes[1]) or ""
  return pandoc.RawBlock("markdown", fence .. language .. "\n" .. block.text .. "\n" .. fence .. "\n")
end
function Span(s) return s.content end
function SmallCaps(s) return s.content end
function Underline(s) return s.content end
function Div(d)
  if d.identifier == "refs" then
    local heading = pandoc.Header(1, "References", pandoc.Attr("", {"unnumbered"}))
    return {heading, table.unpack(d.content)}
  end
  return d.content
end
-- Environments whose content the page does not show as text: pictures (a TikZ path would
-- print its coordinates), comments, files written out, acmart's CCS concepts XML.
local NOT_TEXT = {tikzpicture = true, pgfpicture = true, picture = true, pspicture = true,
  circuitikz = true, tikzcd = true, forest = true, axis = true, semilogxaxis = true,
  semilogyaxis = true, loglogaxis = true, polaraxis = true, groupplot = true, scope = true,
  xy = true, dot2tex = true, comment = true, filecontents = true, CCSXML = true}

-- Math as its TeX, without the pictures inside it (fudan's tensor diagrams are tikzpictures
-- and included graphics inside equations: their node options, coordinates and file names are
-- no text the page prints); a formula that was a picture alone is dropped.
function Math(m)
  local text = m.text:gsub("\\ensuremath%s*(%b{})", "%1")
  local pictures, found = 0, 0
  text, found = text:gsub("\\tikz%s*%b[]%s*%b{}", "")
  pictures = pictures + found
  text, found = text:gsub("\\tikz%s*%b{}", "")
  pictures = pictures + found
  for name in pairs(NOT_TEXT) do
    text, found = text:gsub("\\begin%s*{" .. name .. "}.-\\end%s*{" .. name .. "}", "")
    pictures = pictures + found
  end
  text, found = text:gsub("\\includegraphics%s*%b[]%s*%b{}", "")
  pictures = pictures + found
  text, found = text:gsub("\\includegraphics%s*%b{}", "")
  pictures = pictures + found
  -- the boxes a picture was set in (fudan's \vcenter{\hbox{\includegraphics{…}}}), left empty
  found = pictures
  while found > 0 do text, found = text:gsub("\\%a+%s*{%s*}", "") end
  if not text:match("%S") then return {} end
  -- where a picture went, no space is left at the formula's ends ($a $ is no inline math)
  m.text = pictures > 0 and text:match("^%s*(.-)%s*$") or text
  -- inline math on one line: a line break typed in it ($i \neq⏎j$) made readers of the
  -- markdown pair its dollars with the next formula's, reading the prose between as math
  if m.mathtype == "InlineMath" then m.text = m.text:gsub("%s*\n%s*", " ") end
  return m
end

-- Inline formulas side by side (``\ensuremath{a}\ensuremath{b}``) as one: written next to each
-- other they would open display math (``$a$$b$``) that runs on to the next ``$$``.
function Inlines(inlines)
  local out = pandoc.List()
  for _, inline in ipairs(inlines) do
    local last = out[#out]
    if inline.t == "Math" and inline.mathtype == "InlineMath" and last ~= nil
        and last.t == "Math" and last.mathtype == "InlineMath" then
      last.text = last.text .. " " .. inline.text
    else
      out:insert(inline)
    end
  end
  return out
end

-- The LaTeX of an environment pandoc does not know, read as blocks with this filter's rules;
-- nothing when pandoc cannot read it either (mathpar's \and outside a table).
local function read_latex(text)
  local ok, doc = pcall(pandoc.read, text, "latex+raw_tex")
  if not ok then return {} end
  local blocks = doc.blocks
  local rules = {RawBlock = RawBlock, RawInline = RawInline, Link = Link, Span = Span,
    SmallCaps = SmallCaps, Underline = Underline, Header = Header, Para = Para,
    Figure = Figure, Table = Table, Math = Math, Cite = Cite, Inlines = Inlines}
  return pandoc.walk_block(pandoc.Div(blocks), rules).content
end

-- Boxes pandoc keeps raw, text and all (a framed answer, an \mbox against hyphenation): their
-- last argument is text the page prints; options, widths and a lift before it are not.
local BOXES = {fbox = true, mbox = true, framebox = true, makebox = true, raisebox = true}

local function box_text(text)
  local name, rest = text:match("^%s*\\(%a+)%s*(.*)$")
  if not (name and BOXES[name]) then return nil end
  local groups = {}
  for group in rest:gmatch("%b{}") do table.insert(groups, group) end
  if #groups == 0 or (name == "raisebox" and #groups < 2) then return nil end  -- a lift alone
  return groups[#groups]:sub(2, -2)
end

-- Other raw LaTeX inside a paragraph is layout or a command pandoc does not know: dropped.
function RawInline(raw)
  local inner = box_text(raw.text)
  if inner == nil then return {} end
  return pandoc.utils.blocks_to_inlines(read_latex(inner))
end

local function has_table(blocks)
  local found = false
  pandoc.walk_block(pandoc.Div(blocks), {Table = function() found = true end})
  return found
end

-- A table float arrives raw: vlpipe hands every one over as table*, which the reader keeps raw
-- (+raw_tex), because where pandoc cannot read a table float's tabular it drops the caption too.
-- Read here as a table float (with these rules: a subtable's tables too), it is its caption and
-- tables (and its notes) where pandoc reads a tabular; otherwise, as a raw tabular is, it becomes a marker holding its number (0: no caption)
-- and its LaTeX in hex, which vlpipe.sources.arxiv.pandoc renders as its caption and plain-text
-- cells. Any other environment pandoc does not know
-- (acmart's acks, revtex's widetext, elsarticle's frontmatter, a class's theorem) prints its
-- content: its begin and end and its arguments are dropped. Those in NOT_TEXT print nothing.
function RawBlock(raw)
  local inner = box_text(raw.text)
  if inner then return read_latex(inner) end
  local env = raw.text:match("\\begin%s*{(%a+%*?)}")
  if env == "table*" then
    local float = raw.text:gsub("\\begin%s*{table%*}", "\\begin{table}", 1)
    float = float:gsub("\\end%s*{table%*}(%s*)$", "\\end{table}%1")
    local counted = {figures, tables, notes}
    float_caption = false
    local blocks = read_latex(float)
    float_caption = nil
    if has_table(blocks) then return blocks end
    figures, tables, notes = table.unpack(counted)  -- not read: counted as the marker below
  end
  if env == "tabular" or env == "tabular*" or env == "longtable" or env == "tabularx"
      or env == "table" or env == "table*" then
    local number = 0
    if raw.text:match("\\caption") then
      tables = tables + 1
      number = tables
    end
    local hex = raw.text:gsub(".", function(c) return string.format("%02x", c:byte()) end)
    return pandoc.RawBlock("markdown", "<!--vlpipe:table:" .. number .. ":" .. hex .. "-->")
  end
  local name, rest = raw.text:match("^%s*\\begin%s*{([%a%*]+)}(.*)$")
  if name and not NOT_TEXT[name:gsub("%*$", "")] then
    local body = rest:match("^(.-)\\end%s*{" .. name:gsub("%*", "%%*") .. "}%s*$")
    if body then
      -- its arguments are no text: one-word groups ({2}, {UTF8}{gbsn}, {width=\linewidth})
      -- and key=value options (a box's colours) go; a theorem's title prints in parentheses
      local note = ""
      while true do
        local group, after = body:match("^%s*(%b{})(.*)$")
        local option, rest = body:match("^%s*(%b[])(.*)$")
        if group and not group:sub(2, -2):find("%s") then
          body = after
        elseif option and option:find("=") then
          body = rest
        elseif option and note == "" then
          note, body = "(" .. option:sub(2, -2) .. ") ", rest
        else
          break
        end
      end
      if name == "vlpipefiguretext" then  -- a figure's own text (vlpipe.sources.arxiv.pandoc)
        local blocks = read_latex(body)
        table.insert(blocks, 1, pandoc.RawBlock("markdown", "<!--vlpipe:figure-->"))
        table.insert(blocks, pandoc.RawBlock("markdown", "<!--vlpipe:/figure-->"))
        return blocks
      end
      return read_latex(note .. body)
    end
  end
  return {}
end
function Cite(c)
  if #c.content > 0 then return c.content end
  local keys = {}
  for _, citation in ipairs(c.citations) do table.insert(keys, citation.id) end
  return pandoc.Str("[" .. table.concat(keys, ", ") .. "]")
end

function Blocks(blocks)
  local out = pandoc.List()
  for _, block in ipairs(blocks) do
    local found = pandoc.List()
    block = pandoc.walk_block(block, {Note = function(note)
      notes = notes + 1
      found:insert({notes, note.content})
      return pandoc.Superscript({pandoc.Str(tostring(notes))})
    end})
    out:insert(block)
    for _, item in ipairs(found) do
      local inlines = pandoc.List({pandoc.Str(tostring(item[1])), pandoc.Space()})
      for _, inner in ipairs(item[2]) do
        if inner.content then inlines:extend(inner.content) end
      end
      -- marked: the page prints it at its foot, so the page split places it as a float
      out:insert(pandoc.RawBlock("markdown", "<!--vlpipe:footnote-->"))
      out:insert(pandoc.Para(inlines))
    end
  end
  return out
end

-- A metadata value (title, an author) as inlines: its math and formatting kept (the page prints
-- them), pictures (a logo in the title) dropped.
-- Block element tags: a metadata value holding these is a list of blocks (pandoc 2.x hands
-- MetaBlocks to Lua as a plain list, without its "MetaBlocks" tag).
local BLOCK_TAGS = {Para = true, Plain = true, Div = true, BlockQuote = true, BulletList = true,
  OrderedList = true, DefinitionList = true, Header = true, CodeBlock = true, RawBlock = true,
  LineBlock = true, Table = true, HorizontalRule = true}

local function is_blocks(value)
  return value.t == "MetaBlocks" or (value[1] ~= nil and BLOCK_TAGS[value[1].t] == true)
end

-- The title's and authors' \thanks (affiliations, grants): the page prints them once, as
-- footnotes of the first page; they become paragraphs after the authors.
local front_notes, front_seen = pandoc.List(), {}

local function keep_front_note(note)
  local key = pandoc.utils.stringify(note.content)
  if front_seen[key] then return end
  front_seen[key] = true
  local inlines = pandoc.List()
  for _, block in ipairs(note.content) do
    if block.content then inlines:extend(block.content) end
  end
  front_notes:insert(pandoc.Para(inlines))
end

local function meta_inlines(value)
  if type(value) == "string" then return pandoc.List({pandoc.Str(value)}) end
  local inlines = value
  if is_blocks(value) then inlines = pandoc.utils.blocks_to_inlines(value) end
  inlines = pandoc.List(inlines):filter(function(el)
    if el.t == "Note" then keep_front_note(el) end
    return el.t ~= "Image" and el.t ~= "Note"
  end)
  while #inlines > 0 and inlines[1].t == "Space" do inlines:remove(1) end
  return inlines
end

function Pandoc(doc)
  local front = pandoc.List()
  local meta = doc.meta
  if meta.title then
    front:insert(pandoc.Header(1, meta_inlines(meta.title)))
  end
  if meta.author then
    local names = pandoc.List()
    local authors = meta.author
    if type(authors) == "string" or authors.t == "MetaInlines" or authors.t == "MetaString"
        or authors[1].t ~= nil then
      authors = {authors}
    end
    for index, author in ipairs(authors) do
      if index > 1 then names:extend({pandoc.Str(","), pandoc.Space()}) end
      names:extend(meta_inlines(author))
    end
    front:insert(pandoc.Para(names))
  end
  front:extend(front_notes)
  if meta.abstract then
    front:insert(pandoc.Header(6, "Abstract"))
    local abstract = meta.abstract
    if is_blocks(abstract) then front:extend(abstract) else
      front:insert(pandoc.Para(meta_inlines(abstract))) end
  end
  front:extend(doc.blocks)
  return pandoc.Pandoc(front, {})  -- its title, authors and abstract are in the text now
end
