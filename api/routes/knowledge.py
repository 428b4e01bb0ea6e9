from __future__ import annotations

from fastapi import APIRouter

from api.contract import AUTHENTICATED, BAD_REQUEST, COMMON, responses
from api.deps import ContextDep, Viewer, scope_of
from api.schemas import SearchHit, SearchRequest, SearchResponse
from knowledge.search import retrieve

router = APIRouter(prefix="/v1/knowledge", tags=["knowledge"], responses=responses(COMMON, AUTHENTICATED, BAD_REQUEST))


@router.post("/search", response_model=SearchResponse)
def search(body: SearchRequest, ctx: ContextDep, key: Viewer) -> SearchResponse:
    """Hybrid, thread-aware search; ``confident`` is false when nothing passes ``min_score``."""
    workspace = scope_of(key).workspace_for(body.workspace, ctx.settings.workspace)
    context = [t if isinstance(t, str) else t.text for t in body.context] if isinstance(body.context, list) else (
        body.context
    )
    result = retrieve(ctx.store, body.query, workspace, k=body.k, context=context, filters=body.filters,
                      min_score=body.min_score)
    return SearchResponse(
        hits=[SearchHit.model_validate(h.model_dump()) for h in result.hits],
        confident=result.confident,
        entities=result.entities,
    )
