"""v1 jobs as the commands write them: `JOB_RECORDS`, beside `_batch_output.BATCH_RECORDS`.

The imports run one way: `_output` (records, formats) <- `_table` (tables) <-
this module. The job tables are imported only when a table is written, so
``list --help`` and ``--format json`` do not load them.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Final

from llama_batch_async import BatchJob

from ._output import JOB_FIELDS, Records, Stream, Writer, job_to_dict

__all__ = ["JOB_RECORDS"]


def _job_table(
    stream: Stream,
    fields: Sequence[str] | None,
    ids: Sequence[str] | None,
    constant: Collection[str],
) -> Writer[BatchJob]:
    # Imported when a table is written, so `--help` does not load the tables.
    from ._table import job_table  # noqa: PLC0415 - see above

    return job_table(stream, fields, ids, constant)


JOB_RECORDS: Final[Records[BatchJob]] = Records(
    noun="job",
    nouns="jobs",
    to_dict=job_to_dict,
    csv_columns=JOB_FIELDS,
    csv_row=lambda job: ["" if value is None else value for value in job.to_dict().values()],
    table=_job_table,
)
"""v1 jobs: the reference's 17 fields in every format (`job_to_dict`)."""
