"""``python -m vlpipe.trainer``."""

from vlpipe.trainer.cli import main

raise SystemExit(main())
