from vlpipe.cli import app

app(prog_name="vlpipe")
