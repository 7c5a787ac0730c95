"""The portal's Starlette app: the pages of the unit over the Central model, with sign-in, flash messages, JSON twins.

::

    portal = Portal(cloud)                                   # one per served world (or classroom)
    portal.add_trainee("you", app_subdomain, tenant_id, user)
    link = portal.signin_link("https://127.0.0.1:8444", app_subdomain, user)
    # served: every non-/api path of the Central port reaches `portal` (simulator.server.PortApp)

Built the way datasette builds its pages: one Jinja environment on the portal (autoescape, a
``ChoiceLoader`` with an override folder first and the defaults also reachable as ``default:<name>``), one
:meth:`Portal.render` that adds the base context and answers the JSON twin for ``….json`` paths (advertised with
``Link: rel=alternate``), one error handler mapping the Central model's :class:`CentralError` situations to pages,
and forms that POST, then redirect with a flash message (POST-redirect-GET). JavaScript is one small static file.

Every action calls the Central model inside the world's lock, exactly as the REST adapter does: a refusal is the
model's own :class:`CentralError`, shown on the page, and the model guarantees it changed nothing.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PrefixLoader, select_autoescape
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from simulator.central.errors import CentralError
from simulator.portal.advice import advice_for
from simulator.portal.checklist import DONE, WRONG, Step, checklist
from simulator.portal.contexts import (
    ATTESTATION_TYPES,
    ENTRY_LABELS,
    GROUP_TYPES,
    ChecklistPage,
    DeviceRow,
    DevicesPage,
    EntryPage,
    EntryRow,
    ErrorPage,
    GroupPage,
    GroupRow,
    GroupsPage,
    HelpRow,
    HomePage,
    InstructorPage,
    NewGroupPage,
    PageContext,
    Shell,
    SignInPage,
    TraineeRow,
)
from simulator.portal.journal import Journal
from simulator.portal.signin import Signer, resolve_app
from simulator.portal.urls import Urls

HERE = Path(__file__).parent
SESSION_COOKIE = "sphere_harness_portal"
SIDEBAR_COOKIE = "sphere_harness_sidebar"
MAX_UPLOAD_BYTES = 64 * 1024
TITLES = {400: "Bad request", 401: "Sign in", 403: "Forbidden", 404: "Not found", 405: "Not allowed", 409: "Conflict"}


class PortalError(Exception):
    """A page that cannot be shown: ``status``, ``title``, ``message`` (rendered by the one error handler)."""

    def __init__(self, status: int, title: str, message: str) -> None:
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


@dataclass
class Trainee:
    """Who uses an app: a name for the instructor page, the Sphere tenant the app belongs with, the user."""

    name: str
    app_subdomain: str
    tenant_id: str | None
    user: str


def certificate_text(data: bytes) -> str:
    """An uploaded file as the ``certificate`` string the Central model takes: PEM text as it is, anything else as
    base64 (the model then says whether it is one X.509 certificate)."""
    if data.lstrip().startswith(b"-----BEGIN"):
        try:
            return data.decode("ascii")
        except UnicodeDecodeError:
            pass
    return base64.b64encode(data).decode("ascii")


def group_id_for(name: str, taken: set[str]) -> str:
    """An enrollment group ID from a display name (``Azure Sphere`` → ``azure-sphere``), unique in the app."""
    base = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60] or "group"
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}-{n}"
    return candidate


class Portal:
    """The portal of one world: its pages, its sign-in secret, its trainees and the Sphere journal."""

    def __init__(
        self,
        cloud: Any,
        *,
        secret: str | None = None,
        base_hosts: tuple[str, ...] | frozenset[str] = (),
        templates_dir: str | Path | None = None,
    ) -> None:
        self.cloud = cloud
        self.signer = Signer(secret or secrets.token_urlsafe(32))
        self.journal = Journal(cloud)
        self.trainees: dict[str, Trainee] = {}
        self.base_hosts = frozenset(h.lower() for h in base_hosts) | {"localhost"}
        self.urls = Urls()
        defaults = FileSystemLoader(str(HERE / "templates"))
        loaders: list[Any] = [FileSystemLoader(str(templates_dir))] if templates_dir else []
        self.env = Environment(
            loader=ChoiceLoader([*loaders, defaults, PrefixLoader({"default": defaults})]),
            autoescape=select_autoescape(default=True, default_for_string=True),
            auto_reload=False,  # templates do not change while a world is served: no stat() per page
        )
        self.env.globals["ENTRY_LABELS"] = ENTRY_LABELS
        self.templates = Jinja2Templates(env=self.env)
        self.app = self._build()

    # -- trainees and links ---------------------------------------------------------------------------------------

    def add_trainee(self, name: str, app_subdomain: str, tenant_id: str | None, user: str) -> Trainee:
        trainee = Trainee(name, app_subdomain.lower(), tenant_id, user)
        self.trainees[trainee.app_subdomain] = trainee
        return trainee

    def signin_link(self, base_url: str, app_subdomain: str, user: str) -> str:
        return base_url.rstrip("/") + self.urls.signin(self.signer.signin_token(app_subdomain.lower(), user))

    def instructor_link(self, base_url: str) -> str:
        return base_url.rstrip("/") + self.urls.instructor(token=self.signer.instructor_token())

    def steps_for(self, app_subdomain: str) -> list[Step]:
        trainee = self.trainees.get(app_subdomain)
        return checklist(
            self.cloud, self.journal, app_subdomain=app_subdomain, tenant_id=trainee.tenant_id if trainee else None
        )

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)

    # -- rendering ------------------------------------------------------------------------------------------------

    def render(
        self, request: Request, template: str, page: PageContext, shell: Shell | None = None, status: int = 200
    ) -> Response:
        """The page as HTML (``template``), or its JSON twin for a ``….json`` path."""
        path = request.url.path
        if path.endswith(".json"):
            return JSONResponse(page.to_json(), status_code=status)
        context = {
            "urls": self.urls,
            "messages": request.session.pop("messages", []),
            "shell": shell,
            "page": page,
            # the sidebar as the learner left it (portal.js keeps the cookie), drawn so before the first paint
            "nav_open": request.cookies.get(SIDEBAR_COOKIE) == "open",
        }
        response = self.templates.TemplateResponse(request, template, context, status_code=status)
        twin = "/index.json" if path == "/" else f"{path}.json"
        response.headers["Link"] = f'<{twin}>; rel="alternate"; type="application/json"'
        return response

    @staticmethod
    def flash(request: Request, kind: str, text: str, advice: str = "") -> None:
        """A message for the next page: ``text`` (for an error, the service's own message) and, for an error the
        unit can meet, ``advice`` in the unit's terms (:mod:`simulator.portal.advice`)."""
        message = {"kind": kind, "text": text}
        if advice:
            message["advice"] = advice
        request.session.setdefault("messages", []).append(message)

    def _redirect(self, url: str) -> Response:
        return RedirectResponse(url, status_code=303)

    # -- who is asking -------------------------------------------------------------------------------------------

    def _signed_app(self, request: Request) -> tuple[Any, Shell]:
        resolution = resolve_app(self.cloud, request.headers.get("host", ""), request.session, self.base_hosts)
        if resolution.app is None:
            raise PortalError(resolution.status, TITLES.get(resolution.status, "Sign in"), resolution.reason)
        app = resolution.app
        return app, Shell(app.name, app.subdomain, request.session.get("user", ""))

    # -- pages ------------------------------------------------------------------------------------------------------

    async def signin(self, request: Request) -> Response:
        data = self.signer.read_signin(request.query_params.get("token", ""))
        if data is None:
            raise PortalError(401, "Sign in", "This sign-in link is not valid for this world.")
        with self.cloud.lock:
            if self.cloud.central.app_by_subdomain(data["app"]) is None:
                raise PortalError(401, "Sign in", "The application of this sign-in link no longer exists.")
        request.session.clear()
        request.session.update(app=data["app"], user=data["user"])
        return self._redirect(self.urls.home())

    async def signout(self, request: Request) -> Response:
        request.session.clear()
        raise PortalError(401, "Signed out", "You are signed out. Use your sign-in link to come back.")

    async def home(self, request: Request) -> Response:
        app, shell = self._signed_app(request)
        steps = self.steps_for(app.subdomain)
        done = sum(1 for s in steps if s.status == DONE)
        page = HomePage(app.id, app.id_scope, done, len(steps))
        return self.render(request, "home.html", page, shell)

    async def device_connection(self, request: Request) -> Response:
        app, shell = self._signed_app(request)
        shell.section = "device-connection"
        with self.cloud.lock:
            rows = [self._group_row(g) for g in app.enrollment.list_groups()]
        return self.render(request, "groups.html", GroupsPage(rows), shell)

    @staticmethod
    def _group_row(group: Any) -> GroupRow:
        def state(name: str) -> str:
            entry = group.entries.get(name)
            return "" if entry is None else ("Verified" if entry.verified else "Unverified")

        return GroupRow(
            group.id,
            group.display_name,
            GROUP_TYPES.get(group.type, group.type),
            ATTESTATION_TYPES.get(group.attestation_type, group.attestation_type),
            group.enabled,
            state("primary"),
            state("secondary"),
        )

    async def new_group(self, request: Request) -> Response:
        app, shell = self._signed_app(request)
        shell.section = "device-connection"
        if request.method == "GET":
            kept = request.session.pop("new_group", {})
            return self.render(request, "new_group.html", NewGroupPage(**kept), shell)
        form = await request.form()
        name = str(form.get("name", "")).strip()
        group_type = str(form.get("group_type", "iot"))
        attestation = str(form.get("attestation_type", "x509"))
        body = {"displayName": name, "type": group_type, "attestation": {"type": attestation}}
        try:
            with self.cloud.lock:
                group_id = group_id_for(name, set(app.enrollment.groups))
                group = app.put_group(group_id, body)
        except CentralError as exc:
            self.flash(request, "error", exc.message)
            request.session["new_group"] = {"name": name, "group_type": group_type, "attestation_type": attestation}
            return self._redirect(self.urls.new_group())
        self.flash(request, "success", f"Saved the enrollment group '{group.display_name}'.")
        return self._redirect(self.urls.group(group.id))

    async def group(self, request: Request) -> Response:
        app, shell = self._signed_app(request)
        shell.section = "device-connection"
        with self.cloud.lock:
            group = app.get_group(request.path_params["group_id"])
            entries = []
            if group.attestation_type == "x509":
                for name, label in ENTRY_LABELS.items():
                    entry = group.entries.get(name)
                    entries.append(
                        EntryRow(
                            name,
                            label,
                            entry is not None,
                            bool(entry and entry.verified),
                            entry.thumbprint if entry else "",
                        )
                    )
            page = GroupPage(self._group_row(group), entries)
        return self.render(request, "group.html", page, shell)

    async def entry(self, request: Request) -> Response:
        app, shell = self._signed_app(request)
        shell.section = "device-connection"
        group_id, name = request.path_params["group_id"], request.path_params["entry"]
        from simulator.pki.names import subject_string

        with self.cloud.lock:
            group = app.get_group(group_id)
            app.enrollment.check_entry_name(name)
            if group.attestation_type != "x509":
                raise PortalError(400, "Bad request", f"'{group.display_name}' uses Shared access signature (SAS).")
            entry = group.entries.get(name)
            uploaded_names = request.session.get("uploads", {})
            page = EntryPage(
                group_id=group.id,
                group_name=group.display_name,
                entry=name,
                label=ENTRY_LABELS[name],
                uploaded=entry is not None,
                file_name=uploaded_names.get(f"{group.id}/{name}", "uploaded certificate") if entry else "",
                subject=subject_string(entry.certificate) if entry else "",
                thumbprint=entry.thumbprint if entry else "",
                verification_code=(entry.code or "") if entry else "",
                verified=bool(entry and entry.verified),
                dialog_open=entry is not None and request.query_params.get("dialog") == "settings",
            )
        return self.render(request, "entry.html", page, shell)

    async def _upload_bytes(self, request: Request) -> tuple[bytes, str] | None:
        async with request.form(max_files=1, max_fields=4) as form:  # closes the spooled upload afterwards
            upload = form.get("certificate")
            if upload is None or isinstance(upload, str) or not upload.filename:
                return None
            data = await upload.read(MAX_UPLOAD_BYTES + 1)
            file_name = Path(upload.filename).name
        if len(data) > MAX_UPLOAD_BYTES:
            raise CentralError.of(
                "too_large",
                f"the file is larger than {MAX_UPLOAD_BYTES} bytes",
                self.cloud.settings.central.error_codes,
            )
        return data, file_name

    async def entry_action(self, request: Request) -> Response:
        app, _ = self._signed_app(request)
        group_id, name, action = (request.path_params[k] for k in ("group_id", "entry", "action"))
        back = self.urls.entry(group_id, name)
        try:
            if action == "upload":
                upload = await self._upload_bytes(request)
                if upload is None:
                    self.flash(request, "error", "Choose a certificate file (.cer, .pem or .crt).")
                    return self._redirect(back)
                data, file_name = upload
                with self.cloud.lock:
                    app.set_certificate(group_id, name, {"certificate": certificate_text(data)})
                request.session.setdefault("uploads", {})[f"{group_id}/{name}"] = file_name
                self.flash(request, "success", f"Uploaded {file_name}.")
            elif action == "generate":
                with self.cloud.lock:
                    app.generate_verification_code(group_id, name)
                back = self.urls.entry(group_id, name, dialog=True)
            elif action == "verify":
                back = self.urls.entry(group_id, name, dialog=True)
                upload = await self._upload_bytes(request)
                if upload is None:
                    self.flash(request, "error", "Choose the validation certificate file (.cer, .pem or .crt).")
                    return self._redirect(back)
                with self.cloud.lock:
                    app.verify_certificate(group_id, name, {"certificate": certificate_text(upload[0])})
                self.flash(request, "success", "Verified.")
            elif action == "save":
                with self.cloud.lock:
                    app.get_group(group_id)
                self.flash(request, "success", "Saved.")
                back = self.urls.group(group_id)
            else:
                raise PortalError(404, "Not found", f"No action '{action}'.")
        except CentralError as exc:
            self.flash(request, "error", exc.message, advice_for(action, exc))
        return self._redirect(back)

    async def devices(self, request: Request) -> Response:
        app, shell = self._signed_app(request)
        shell.section = "devices"
        with self.cloud.lock:
            rows = [
                DeviceRow(d.display_name, d.id, d.status, d.template or "Unassigned")
                for d in app.device_registry.list()
            ]
        return self.render(request, "devices.html", DevicesPage(rows), shell)

    async def checklist(self, request: Request) -> Response:
        app, shell = self._signed_app(request)
        shell.section = "checklist"
        steps = self.steps_for(app.subdomain)
        page = ChecklistPage(steps, sum(1 for s in steps if s.status == DONE), len(steps))
        return self.render(request, "checklist.html", page, shell)

    async def instructor(self, request: Request) -> Response:
        token = request.query_params.get("token")
        if token is not None:
            if not self.signer.is_instructor(token):
                raise PortalError(401, "Sign in", "This instructor link is not valid for this world.")
            request.session.clear()
            request.session["instructor"] = True
            return self._redirect(self.urls.instructor())
        if not request.session.get("instructor"):
            raise PortalError(401, "Sign in", "The instructor page needs the instructor's own link.")
        rows, titles = [], []
        for trainee in self.trainees.values():
            steps = self.steps_for(trainee.app_subdomain)
            titles = titles or [s.title for s in steps]
            with self.cloud.lock:
                tenant = self.cloud.sphere.tenants.get((trainee.tenant_id or "").lower())
            done = sum(1 for s in steps if s.status == DONE)
            rows.append(
                TraineeRow(trainee.name, trainee.app_subdomain, tenant.name if tenant else "", done, len(steps), steps)
            )
        help_rows = [
            HelpRow(row.name, number, step.title, step.detail)
            for row in rows
            for number, step in enumerate(row.steps, 1)
            if step.status == WRONG
        ]
        finished = sum(1 for row in rows if row.done == row.total)
        return self.render(request, "instructor.html", InstructorPage(rows, titles, finished, help_rows))

    # -- errors -----------------------------------------------------------------------------------------------------

    async def _error(self, request: Request, exc: Exception) -> Response:
        if isinstance(exc, PortalError):
            status, title, message = exc.status, exc.title, exc.message
        elif isinstance(exc, CentralError):
            status, title, message = exc.status, TITLES.get(exc.status, "Error"), exc.message
        else:
            assert isinstance(exc, HTTPException)
            status, title = exc.status_code, TITLES.get(exc.status_code, "Error")
            message = f"There is no page at {request.url.path}." if status == 404 else str(exc.detail)
        if status == 401:
            return self.render(request, "signin.html", SignInPage(message), status=401)
        return self.render(request, "error.html", ErrorPage(status, title, message), status=status)

    # -- the app ----------------------------------------------------------------------------------------------------

    def _build(self) -> Starlette:
        u = self.urls
        page_routes: list[tuple[str, Callable[[Request], Awaitable[Response]], list[str]]] = [
            (u.home(), self.home, ["GET"]),
            (u.home("json"), self.home, ["GET"]),
            (u.device_connection(), self.device_connection, ["GET"]),
            (u.device_connection("json"), self.device_connection, ["GET"]),
            (u.new_group(), self.new_group, ["GET", "POST"]),
            (u.new_group() + ".json", self.new_group, ["GET"]),
            ("/admin/device-connection/groups/{group_id}.json", self.group, ["GET"]),
            ("/admin/device-connection/groups/{group_id}", self.group, ["GET"]),
            ("/admin/device-connection/groups/{group_id}/{entry}.json", self.entry, ["GET"]),
            ("/admin/device-connection/groups/{group_id}/{entry}", self.entry, ["GET"]),
            ("/admin/device-connection/groups/{group_id}/{entry}/{action}", self.entry_action, ["POST"]),
            (u.devices(), self.devices, ["GET"]),
            (u.devices("json"), self.devices, ["GET"]),
            (u.checklist(), self.checklist, ["GET"]),
            (u.checklist("json"), self.checklist, ["GET"]),
            (u.instructor(), self.instructor, ["GET"]),
            (u.instructor(fmt="json"), self.instructor, ["GET"]),
            (u.signin(), self.signin, ["GET"]),
            (u.signout(), self.signout, ["POST"]),
        ]
        routes: list[Any] = [Route(path, handler, methods=methods) for path, handler, methods in page_routes]
        routes.append(Mount("/static", app=StaticFiles(directory=str(HERE / "static")), name="static"))
        handlers: dict[Any, Any] = {PortalError: self._error, CentralError: self._error, HTTPException: self._error}
        middleware = [
            Middleware(
                SessionMiddleware,
                secret_key=self.signer.secret,
                session_cookie=SESSION_COOKIE,
                same_site="lax",
                https_only=True,
            )
        ]
        return Starlette(routes=routes, exception_handlers=handlers, middleware=middleware)
