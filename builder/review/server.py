"""The review page: FastAPI on uvicorn, one reviewer per server, bound to loopback unless told otherwise.

    python -m builder review BUILD_OR_RELEASE [--sample N] [--reviewer NAME] [--port P] [--host H] [--allow-origin URL]

The page (page.html, page.js, page.css beside this module) shows one edit of the sample at a time beside its
original, with the class name, its WordNet definition and the target prompt; keys 1/2/3 answer, left arrow goes
back, right arrow forward. The server holds the sample's metadata and images in memory (read once at start) and
appends each answer to `reviews/<reviewer>.jsonl` before it replies, so killing it loses nothing acknowledged and
a restart resumes at the first row this reviewer has not answered.

An answer is accepted only from the page itself: the request's Origin must be one of the server's own origins
(or one given with --allow-origin) and it must carry the per-start token the page was served with; the Host header
must name the server (no DNS rebinding). A row id that is not in the sample is refused with 404.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel

from imagenet_textcorrupt.classes import load_classes

from builder.review.folder import ReviewError, RowFolder, is_text_guided, open_folder, read_images, read_metadata
from builder.review.sample import Sample, load_or_draw
from builder.review.verdicts import ANSWERS, REVIEWS_DIR, append_verdict, latest, read_verdicts, verdict_file

LOOPBACK = "127.0.0.1"
DEFAULT_PORT = 7870
TOKEN_HEADER = "X-Review-Token"
PAGE_FILES = {"page.js": "text/javascript", "page.css": "text/css"}
IMAGE_TYPES = ("image/png", "image/jpeg", "image/webp", "application/octet-stream")  # what _media_type answers
SECURITY_HEADERS = {"Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; "
                                               "img-src 'self'; connect-src 'self'; frame-ancestors 'none'",
                    "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer",
                    "Cache-Control": "no-store"}


@dataclass
class ReviewSession:
    """What one server holds: the sample in order, each row's page data, the images, this reviewer's answers."""

    folder: RowFolder
    reviewer: str
    sample: Sample
    rows: list[dict[str, Any]]
    images: dict[str, bytes]
    answers: dict[str, str]
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))

    @property
    def verdicts(self) -> Path:
        return verdict_file(self.folder.root, self.reviewer)

    def next_index(self) -> int:
        """The first row of the sample this reviewer has not answered (len(rows) when all are)."""
        return next((i for i, row in enumerate(self.rows) if row["id"] not in self.answers), len(self.rows))

    def done(self) -> int:
        """How many rows of the sample this reviewer has answered."""
        return sum(row["id"] in self.answers for row in self.rows)

    def record(self, row_id: str, answer: str) -> None:
        append_verdict(self.verdicts, row_id, answer, self.reviewer)
        self.answers[row_id] = answer


def open_session(path: str | Path, reviewer: str, size: int | None = None, seed: int | None = None,
                 log: Any = print) -> ReviewSession:
    """Read the folder, draw or reload the sample, read its images and this reviewer's earlier answers."""
    folder = open_folder(path)
    table = read_metadata(folder)
    metadata = {row["id"]: row for row in table.to_pylist()}
    edits = [(row["id"], (row["domain"], int(row["severity"]), bool(row["passed_qc"])))
             for row in metadata.values() if is_text_guided(row["domain"])]
    sample, note = load_or_draw(folder.root / REVIEWS_DIR, edits, size, seed)
    log(note)
    classes = load_classes()
    rows = []
    for row_id in sample.ids:
        row = metadata[row_id]
        if row["source_id"] not in metadata:
            raise ReviewError(f"{folder.root}: row {row_id}'s original {row['source_id']} is not in the {folder.kind}")
        known = classes[row["label"]]
        rows.append({"id": row_id, "source_id": row["source_id"], "class_name": known.name,
                     "definition": known.definition, "wnid": row["wnid"], "prompt": row["prompt"],
                     "source_prompt": row["source_prompt"], "domain": row["domain"],
                     "severity": int(row["severity"])})
    wanted = {r["id"] for r in rows} | {r["source_id"] for r in rows}
    log(f"reading {len(wanted)} images from {len(folder.files)} data files")
    images = read_images(folder, wanted)
    answers: dict[str, str] = {}
    file = verdict_file(folder.root, reviewer)
    if file.is_file():
        answers = latest(read_verdicts(file, known_ids={row_id for row_id, _ in edits}))
    return ReviewSession(folder, reviewer, sample, rows, images, answers)


class Verdict(BaseModel):
    """An answer as the page posts it."""

    id: str
    answer: str


class Refusal(BaseModel):
    """Why a request was refused (FastAPI's HTTPException body)."""

    detail: str


def _refusals(statuses: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI `responses` of a route's refusals, from {status: why}: each with a Refusal body."""
    return {status: {"model": Refusal, "description": why} for status, why in statuses.items()}


def _media_type(data: bytes) -> str:
    if data.startswith(b"\x89PNG"):
        return "image/png"
    if data.startswith(b"\xff\xd8"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return "application/octet-stream"


_HOST = re.compile(r"(?:\[(?P<ipv6>[0-9A-Fa-f:.]+)\]|(?P<name>[^:\[\]/@\s]+))(?::\d{1,5})?")


def host_name(header: str) -> str | None:
    """The name in a Host header without its port (`[::1]:7870` -> `::1`), lower case; None when it is not one.
    (Starlette's TrustedHostMiddleware cuts at the first ':', so it never recognised an IPv6 address.)"""
    match = _HOST.fullmatch(header)
    return (match["ipv6"] or match["name"]).lower() if match else None


def own_origins(host: str, port: int) -> set[str]:
    names = {"127.0.0.1", "localhost", "[::1]"}
    if host not in ("0.0.0.0", "::", "127.0.0.1", "localhost"):
        names.add(f"[{host}]" if ":" in host else host)
    return {f"http://{name}:{port}" for name in names}


def create_app(session: ReviewSession, origins: set[str]) -> FastAPI:
    """The FastAPI app serving `session` to requests from `origins` (scheme://host:port, as browsers send)."""
    # the schema is not served (openapi_url=None); app.openapi() builds it, and it documents every refusal
    app = FastAPI(title="ImageNet-TC review", docs_url=None, redoc_url=None, openapi_url=None,
                  responses={400: {"description": "the Host header does not name this server (no DNS rebinding: "
                                                  "a plain-text body), or the body cannot be parsed"}})
    hosts = {host_name(origin.split("://", 1)[-1].split("/", 1)[0]) for origin in origins} - {None}
    by_id = {row["id"]: i for i, row in enumerate(session.rows)}
    page = resources.files("builder.review")

    @app.middleware("http")
    async def headers(request: Request, call_next: Any) -> Any:
        if host_name(request.headers.get("host", "")) not in hosts:  # DNS rebinding: a page of another site
            response = PlainTextResponse("Invalid host header", status_code=400)
        else:
            response = await call_next(request)
        response.headers.update(SECURITY_HEADERS)
        return response

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        import html

        text = page.joinpath("page.html").read_text(encoding="utf-8")
        return (text.replace("{{token}}", html.escape(session.token))
                .replace("{{reviewer}}", html.escape(session.reviewer))
                .replace("{{folder}}", html.escape(str(session.folder.root))))

    @app.get("/static/{name}", response_class=Response, responses={
        200: {"content": {media_type: {} for media_type in PAGE_FILES.values()}},
        **_refusals({404: "not one of the page's files"})})
    def static(name: str) -> Response:
        if name not in PAGE_FILES:
            raise HTTPException(404, f"no file {name!r}")
        return Response(page.joinpath(name).read_bytes(), media_type=PAGE_FILES[name])

    @app.get("/api/rows")
    def rows() -> dict[str, Any]:
        return {"reviewer": session.reviewer, "folder": str(session.folder.root), "answers": ANSWERS,
                "rows": [{**row, "answer": session.answers.get(row["id"])} for row in session.rows],
                "next": session.next_index(), "done": session.done()}

    @app.get("/image/{row_id}", response_class=Response, responses={
        200: {"content": {media_type: {} for media_type in IMAGE_TYPES}},
        **_refusals({404: "no row of the sample (nor its original) has this id"})})
    def image(row_id: str) -> Response:
        data = session.images.get(row_id)
        if data is None:
            raise HTTPException(404, f"row {row_id!r} is not in the sample")
        return Response(data, media_type=_media_type(data), headers={"Cache-Control": "private, max-age=3600"})

    @app.post("/api/verdict", responses=_refusals({
        403: "the Origin is not the page's, or the X-Review-Token is not this server's",
        404: "the row id is not in the sample"}))
    def verdict(body: Verdict, request: Request) -> JSONResponse:
        origin = request.headers.get("origin")
        if origin not in origins:
            raise HTTPException(403, f"answers are accepted from the review page only (origin {origin!r} is not "
                                     f"one of {', '.join(sorted(origins))}; see --allow-origin)")
        # as bytes: compare_digest refuses str with characters beyond ASCII (a header may hold any Latin-1)
        sent = request.headers.get(TOKEN_HEADER, "").encode("latin-1", "replace")
        if not secrets.compare_digest(sent, session.token.encode("ascii")):
            raise HTTPException(403, "the page's token does not match this server's: reload the page")
        if body.id not in by_id:
            raise HTTPException(404, f"row id {body.id!r} is not in the sample of {session.folder.root}")
        if body.answer not in ANSWERS:
            raise HTTPException(422, f"answer {body.answer!r}: use one of {', '.join(ANSWERS)}")
        session.record(body.id, body.answer)
        return JSONResponse({"saved": body.id, "answer": body.answer, "next": session.next_index(),
                             "done": session.done()})

    return app


def serve(session: ReviewSession, host: str = LOOPBACK, port: int = DEFAULT_PORT,
          allow_origins: tuple[str, ...] = (), log: Any = print) -> None:
    """Run the page until interrupted."""
    import uvicorn

    origins = own_origins(host, port) | {o.rstrip("/") for o in allow_origins}
    app = create_app(session, origins)
    log(f"reviewer {session.reviewer}: {session.done()} of {len(session.rows)} rows answered; answers go to {session.verdicts}")
    log(f"review page: http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}/  (Ctrl-C stops it; "
        "every answer is already saved)")
    if host in (LOOPBACK, "localhost", "::1"):
        log(f"bound to {host} only; to review from another machine, tunnel to it (ssh -L {port}:127.0.0.1:{port} "
            f"THIS_MACHINE) or pass --host 0.0.0.0 --allow-origin http://THIS_MACHINE:{port}")
    else:
        log(f"WARNING: bound to {host}: anyone who can reach port {port} can read the sample's images and answer as "
            f"{session.reviewer} from an allowed origin ({', '.join(sorted(origins))})")
    uvicorn.run(app, host=host, port=port, log_level="warning")
