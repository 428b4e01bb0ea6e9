from __future__ import annotations

from fastapi import APIRouter

from api.deps import ContextDep, Viewer
from api.schemas import SearchHit, SearchRequest, SearchResponse
from knowledge.search import search_knowledge

router = APIRouter(prefix="/v1/knowledge", tags=["knowledge"])


@router.post("/search", response_model=SearchResponse)
def search(body: SearchRequest, ctx: ContextDep, _key: Viewer) -> SearchResponse:
    workspace = body.workspace or ctx.settings.workspace
    hits = search_knowledge(ctx.store, body.query, workspace, k=body.k, context=body.context, filters=body.filters)
    return SearchResponse(hits=[SearchHit.model_validate(h.model_dump()) for h in hits])
