"""One v2 batch by id (``GET /api/v2/batches/{batch_id}``): `BatchClient.get_batch`'s body.

The arguments are checked before any request; the request goes out with the
client's retries (`send`); a 404 becomes `BatchNotFoundError` naming the id.
"""

from __future__ import annotations

from ._convert import structure_batch
from ._errors import BatchNotFoundError, NotFoundError
from ._http._wire import build_batch_request
from ._models import Batch
from ._paging._pager import WalkContext, send
from ._validate import check_flag, check_id

__all__ = ["get_batch"]


async def get_batch(
    context: WalkContext,
    batch_id: str,
    *,
    expand_results: bool,
    project_id: str | None,
    organization_id: str | None,
) -> Batch:
    """Fetch one batch, as `BatchClient.get_batch` documents.

    Raises:
        ValueError: A bad argument, named in the message, before any request.
        BatchNotFoundError: No such batch (HTTP 404); carries ``request_id``.
        LlamaBatchError: Any other failure, after the retries.
    """
    batch_id = check_id("batch_id", batch_id)
    params: list[tuple[str, str]] = []
    if check_flag("expand_results", expand_results):
        params.append(("expand", "results"))
    for name, value in (("project_id", project_id), ("organization_id", organization_id)):
        if value is not None:
            params.append((name, check_id(name, value)))
    request = build_batch_request(context.config, batch_id, tuple(params))
    try:
        return await send(context, request, structure_batch)
    except NotFoundError as exc:
        raise BatchNotFoundError(
            f"batch {batch_id!r} not found (HTTP 404"
            + (f", request id {exc.request_id}" if exc.request_id else "")
            + ")",
            missing=(batch_id,),
            request_id=exc.request_id,
            body=exc.body,
        ) from None
