"""vlpipe: curate vision-language training data into WebDataset shards and train a small VLM."""

__version__ = "0.1.0"
