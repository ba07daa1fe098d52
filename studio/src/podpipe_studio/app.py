"""The studio's web app: server-rendered pages (Starlette + Jinja2), htmx for live status.

Every route is a thin mapping from a request onto :class:`podpipe_studio.backend.Studio`;
blocking boto3 work runs in Starlette's thread pool, never on the event loop. All text is
escaped by Jinja2's autoescape; the only unescaped HTML is Markdown sanitised by nh3.
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import jinja2
import structlog
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, RedirectResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from podpipe.layout import InvalidEpisodeKeyError
from podpipe_studio import views
from podpipe_studio.backend import Studio, StudioError, explain
from podpipe_studio.security import CSRF_FIELD, SECURITY_HEADERS, Guard, GuardMiddleware

PACKAGE = Path(__file__).resolve().parent
log = structlog.get_logger()
Handler = Callable[[Request], Awaitable[Any]]


def _templates(guard: Guard) -> Jinja2Templates:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(PACKAGE / "templates"),
        autoescape=True,  # every template, whatever its name
        undefined=jinja2.StrictUndefined,
    )
    environment.globals.update(
        csrf_field=CSRF_FIELD,
        csrf_token=guard.csrf_token,
        state_label=views.state_label,
        state_class=views.state_class,
        clock=views.clock,
        took=views.took,
    )
    environment.filters["markdown"] = views.markdown_html
    return Jinja2Templates(env=environment)


def create_app(studio: Studio, guard: Guard) -> Starlette:
    templates = _templates(guard)

    def page(request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        context.setdefault("notice", request.query_params.get("notice", ""))
        context.setdefault("error", "")
        context.setdefault("bucket", studio.bucket)
        response: HTMLResponse = templates.TemplateResponse(
            request, name, context, status_code=status
        )
        return response

    async def failure(request: Request, exc: Exception, episode_id: str | None) -> HTMLResponse:
        message = explain(exc)
        if message is None:
            raise exc
        if episode_id is None:
            return page(request, "error.html", 400, error=message)
        try:
            episode = await run_in_threadpool(studio.episode, episode_id)
        except Exception as again:
            if explain(again) is None:
                raise
            return page(request, "error.html", 404, error=explain(again) or message)
        return page(request, "episode.html", 400, page=episode, error=message)

    def back(episode_id: str, notice: str, anchor: str) -> RedirectResponse:
        query = urlencode({"notice": notice})
        return RedirectResponse(f"/episodes/{episode_id}?{query}#{anchor}", status_code=303)

    async def episodes(request: Request) -> HTMLResponse:
        rows = await run_in_threadpool(studio.episodes)
        fragment = request.url.path.startswith("/fragments/")
        return page(request, "_episodes.html" if fragment else "episodes.html", rows=rows)

    async def episode(request: Request) -> HTMLResponse:
        episode_id = request.path_params["episode_id"]
        try:
            found = await run_in_threadpool(studio.episode, episode_id)
        except (StudioError, InvalidEpisodeKeyError) as exc:
            return page(request, "error.html", 404, error=str(exc))
        return page(request, "episode.html", page=found)

    async def stages(request: Request) -> HTMLResponse:
        episode_id = request.path_params["episode_id"]
        try:
            snapshot, entries = await run_in_threadpool(studio.snapshot, episode_id)
        except (StudioError, InvalidEpisodeKeyError) as exc:
            return page(request, "error.html", 404, error=str(exc))
        return page(request, "_stages.html", status_=snapshot.status, dlq=entries)

    async def subtitles(request: Request) -> PlainTextResponse:
        """The VTT from the studio's own origin (a <track> needs CORS otherwise)."""
        try:
            vtt = await run_in_threadpool(studio.subtitles_vtt, request.path_params["episode_id"])
        except InvalidEpisodeKeyError:
            vtt = None
        if vtt is None:
            return PlainTextResponse("not found", status_code=404)
        return PlainTextResponse(vtt, media_type="text/vtt")

    async def briefs(request: Request) -> HTMLResponse:
        """`podpipe prep`'s briefs: the latest one, or the one of ``/prep/<date>``."""
        dates = await run_in_threadpool(studio.brief_dates)
        date = request.path_params.get("date") or (dates[0] if dates else "")
        try:
            text = await run_in_threadpool(studio.brief, date) if date else None
        except InvalidEpisodeKeyError as exc:
            return page(request, "error.html", 404, error=str(exc))
        if date and text is None:
            return page(request, "error.html", 404, error=f"no brief for {date}")
        items = await run_in_threadpool(studio.brief_items, date) if date else []
        return page(request, "prep.html", dates=dates, date=date, brief=text or "", items=items)

    async def running_order(request: Request) -> Any:
        """Save the ticked items as an episode's running order (as `podpipe prep choose`)."""
        date = request.path_params["date"]
        form = await request.form()
        episode_id = str(form.get("episode", "")).strip()
        ranks = [int(str(v)) for v in form.getlist("item") if str(v).isdigit()]
        try:
            saved = await run_in_threadpool(studio.save_running_order, date, episode_id, ranks)
        except Exception as exc:
            message = explain(exc)
            if message is None:
                raise
            dates = await run_in_threadpool(studio.brief_dates)
            text = await run_in_threadpool(studio.brief, date)
            items = await run_in_threadpool(studio.brief_items, date)
            return page(
                request, "prep.html", 400,
                dates=dates, date=date, brief=text or "", items=items, error=message,
            )  # fmt: skip
        chosen = ", ".join(str(i.rank) for i in saved.order.items)
        notice = f"Running order of {saved.order.episode_id} saved: items {chosen}."
        return RedirectResponse(f"/prep/{date}?{urlencode({'notice': notice})}", status_code=303)

    def action(
        run: Callable[[str, Any], Any], notice: Callable[[Any], str], anchor: str
    ) -> Handler:
        async def endpoint(request: Request) -> Any:
            episode_id = request.path_params["episode_id"]
            form = await request.form()
            try:
                result = await run_in_threadpool(run, episode_id, form)
            except Exception as exc:
                return await failure(request, exc, episode_id)
            return back(episode_id, notice(result), anchor)

        return endpoint

    def replay(episode_id: str, form: Any) -> Any:
        return studio.replay(
            episode_id,
            str(form.get("queue", "")),
            str(form.get("prompt", "")) or None,
            str(form.get("model", "")).strip() or None,
        )

    def approve(episode_id: str, form: Any) -> Any:
        choice = str(form.get("title_choice", ""))
        number: int | None = None
        text: str | None = None
        if choice == "own":
            text = str(form.get("title_text", ""))
            if not text.strip():
                raise StudioError("write the title, or choose one of the generated titles")
        elif choice.isdigit():
            number = int(choice)
        notes = form.get("notes")
        return studio.approve(
            episode_id,
            title_number=number,
            title_text=text,
            notes_markdown=None if notes is None else str(notes),
        )

    def publish(episode_id: str, form: Any) -> Any:
        at = str(form.get("at", "")).strip() if form.get("when") == "at" else ""
        if form.get("when") == "at" and not at:
            raise StudioError("give the time to publish at (2026-12-04T06:00Z or +2h)")
        return studio.publish(episode_id, at or None)

    def unpublish(episode_id: str, form: Any) -> Any:
        return studio.unpublish(episode_id)

    def skip_item(episode_id: str, form: Any) -> Any:
        number = str(form.get("item", "")).strip()
        if not number.isdigit():
            raise StudioError("choose the promotion item to skip")
        return int(number), studio.skip_promotion_item(episode_id, int(number))

    def replayed(report: Any) -> str:
        return f"{len(report.replayed)} message(s) sent back to their queue; {report.kept} left in the DLQ."

    def published(outcome: Any) -> str:
        release = outcome.release
        if release.state == "scheduled" and release.scheduled_for:
            return f"Scheduled for {release.scheduled_for.isoformat()}."
        return ("Published: " if outcome.published_now else "Already published: ") + str(
            outcome.feed_url
        )

    transfers = Transfers()

    async def upload_page(request: Request) -> HTMLResponse:
        return page(request, "upload.html")

    async def upload_progress(request: Request) -> JSONResponse:
        sent, total = transfers.get(request.path_params["upload_id"])
        return JSONResponse({"sent": sent, "total": total})

    async def upload(request: Request) -> JSONResponse:
        async with request.form(max_files=1, max_fields=20) as form:
            audio = form.get("audio")
            if not isinstance(audio, UploadFile) or not audio.filename:
                return JSONResponse({"error": "choose an audio file"}, status_code=400)
            name = Path(audio.filename).name or "upload.bin"
            number_text = str(form.get("number", "")).strip()
            if number_text and not number_text.isdigit():
                return JSONResponse(
                    {"error": "the episode number is a whole number"}, status_code=400
                )
            transfer = request.headers.get("x-upload-id", "")
            with tempfile.TemporaryDirectory(prefix="podpipe-studio-") as folder:
                path = Path(folder) / name
                await run_in_threadpool(_spool, audio, path)
                transfers.start(transfer, path.stat().st_size)
                try:
                    episode_id, key = await run_in_threadpool(
                        lambda: studio.upload(
                            path,
                            episode_id=str(form.get("episode", "")).strip(),
                            title=str(form.get("title", "")),
                            show=str(form.get("show", "")),
                            number=int(number_text) if number_text else None,
                            hosts=str(form.get("hosts", "")),
                            guests=str(form.get("guests", "")),
                            on_progress=lambda sent: transfers.advance(transfer, sent),
                        )
                    )
                except Exception as exc:
                    message = explain(exc)
                    if message is None:
                        raise
                    return JSONResponse({"error": message}, status_code=400)
                finally:
                    transfers.finish(transfer)
        return JSONResponse(
            {"episode_id": episode_id, "key": key, "url": f"/episodes/{episode_id}"}
        )

    routes = [
        Route("/", episodes),
        Route("/fragments/episodes", episodes),
        Route("/episodes/{episode_id}", episode),
        Route("/episodes/{episode_id}/fragments/stages", stages),
        Route("/episodes/{episode_id}/subtitles.vtt", subtitles),
        Route(
            "/episodes/{episode_id}/replay",
            action(replay, replayed, "failures"),
            methods=["POST"],
        ),
        Route(
            "/episodes/{episode_id}/approve",
            action(approve, lambda r: f"Approved: {r.title.text}", "release"),
            methods=["POST"],
        ),
        Route(
            "/episodes/{episode_id}/publish",
            action(publish, published, "release"),
            methods=["POST"],
        ),
        Route(
            "/episodes/{episode_id}/unpublish",
            action(unpublish, lambda r: f"Now {r.state}.", "release"),
            methods=["POST"],
        ),
        Route(
            "/episodes/{episode_id}/promotion/skip",
            action(skip_item, lambda r: f"Promotion item {r[0]} skipped.", "promotion"),
            methods=["POST"],
        ),
        Route("/prep", briefs),
        Route("/prep/{date}", briefs),
        Route("/prep/{date}/running-order", running_order, methods=["POST"]),
        Route("/upload", upload_page, methods=["GET"]),
        Route("/upload", upload, methods=["POST"]),
        Route("/upload/progress/{upload_id}", upload_progress),
        Mount("/static", StaticFiles(directory=PACKAGE / "static"), name="static"),
    ]

    async def unexpected(request: Request, exc: Exception) -> HTMLResponse:
        # AWS unreachable, credentials expired...: one line the operator can act on. A real
        # bug is logged with its traceback in the terminal, never shown in the page.
        message = explain(exc)
        if message is None:
            log.exception("studio.error", path=request.url.path)
            message = "unexpected error: see the terminal that runs `podpipe studio`"
        response = page(request, "error.html", 500, error=message)
        response.headers.update(SECURITY_HEADERS)  # this answer bypasses the guard's wrapper
        return response

    app = Starlette(routes=routes, exception_handlers={Exception: unexpected})
    app.add_middleware(GuardMiddleware, guard=guard)
    return app


class Transfers:
    """Bytes sent to S3 per upload (the second half of the progress bar), by the id the
    page chose; forgotten a while after the upload ended."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: dict[str, tuple[int, int]] = {}

    @staticmethod
    def _valid(upload_id: str) -> bool:
        return 0 < len(upload_id) <= 64 and all(c in _ID_CHARS for c in upload_id)

    def start(self, upload_id: str, total: int) -> None:
        if self._valid(upload_id):
            with self._lock:
                self._state[upload_id] = (0, total)

    def advance(self, upload_id: str, sent: int) -> None:
        with self._lock:
            if upload_id in self._state:
                done, total = self._state[upload_id]
                self._state[upload_id] = (min(total, done + sent), total)

    def finish(self, upload_id: str) -> None:
        timer = threading.Timer(60.0, self._forget, args=(upload_id,))
        timer.daemon = True
        timer.start()

    def _forget(self, upload_id: str) -> None:
        with self._lock:
            self._state.pop(upload_id, None)

    def get(self, upload_id: str) -> tuple[int, int]:
        with self._lock:
            return self._state.get(upload_id, (0, 0))


_ID_CHARS = frozenset("0123456789abcdef-")


def _spool(upload: UploadFile, path: Path) -> None:
    upload.file.seek(0)
    with path.open("wb") as target:
        shutil.copyfileobj(upload.file, target, length=1024 * 1024)
