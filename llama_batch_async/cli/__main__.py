"""``python -m llama_batch_async.cli``: the ``llama-batch`` command."""

import sys

from llama_batch_async.cli import main

sys.exit(main())
