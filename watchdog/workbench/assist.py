"""The assist desk's pages: where a person answers a parked captcha (issue 16).

Served only by the workbench that `watchdog run` starts in its own process when a journey is
in `captcha: assisted` mode (the parked pages are that process's browser's); `watchdog serve`
has no desk and no such route. Behind the same guard as every workbench page (token, Host
check, CSP without scripts). The one form here posts the person's answer, with a CSRF token
bound to a SameSite=Strict cookie; its handler is the only caller of
`Desk.submit_person_answer` (tests/test_assist.py checks it). Nothing else of the site is
reachable: the captcha image and sound are the only resources passed on, by session id.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from watchdog.assist.desk import Answered, AssistedSession, Desk, Status
from watchdog.workbench import data

CSRF_COOKIE = "watchdog_assist"
PREFIX = "/assistance"
MAX_FORM_BYTES = 4096
RESULTS = frozenset(a.value for a in Answered)

WORDS: dict[str, dict[str, str]] = {
    "fr": {
        "desk": "Session assistée",
        "tagline": "Poste d'aide : une personne répond au captcha, le watchdog observe ensuite.",
        "desks": "Sessions assistées",
        "promise": (
            "Ce que fera le watchdog : il recopie votre réponse, telle quelle, dans la page du "
            "site qu'il garde ouverte, puis il lit la page des créneaux à son rythme habituel "
            "tant que le site garde la session ouverte. Il observe seulement : il ne réserve "
            "rien, ne choisit aucun créneau et ne saisit aucune donnée personnelle. Rien "
            "d'autre du site n'est accessible depuis cette page."
        ),
        "journey": "Démarche",
        "left": "Temps restant",
        "minutes": "min",
        "image": "Image du captcha, telle que le site l'a servie",
        "image_shot": "Image du captcha (photographie de l'élément de la page)",
        "audio": "Version audio, telle que le site la sert",
        "answer": "Code de sécurité (recopiez-le tel que vous le lisez ou l'entendez)",
        "send": "Envoyer ma réponse",
        "wrong": "Le site a refusé ce code et affiche un nouveau captcha : essayez encore.",
        "solved": "Le site a accepté le code : le watchdog lit désormais la page des créneaux.",
        "refused": "Réponse non envoyée (vide, trop longue ou session close).",
        "left_journey": "Le site a répondu par une autre page : la session est close.",
        "reading": "Captcha résolu par une personne ; lectures de la page des créneaux",
        "ended": "Session close",
        "reason": "Motif",
        "none": "Aucune session en attente. Elles s'ouvrent quand une sonde en mode assisté "
        "rencontre le captcha.",
        "state": "État",
        "waiting": "attend une réponse",
        "open": "Répondre",
    },
    "en": {
        "desk": "Assisted session",
        "tagline": "Assist desk: a person answers the captcha, then the watchdog observes.",
        "desks": "Assisted sessions",
        "promise": (
            "What the watchdog will do: it types your answer, unchanged, into the site's page "
            "it keeps open, then reads the slot page at its usual pace for as long as the site "
            "keeps the session open. It only observes: it books nothing, chooses no slot and "
            "types no personal data. Nothing else of the site is reachable from this page."
        ),
        "journey": "Journey",
        "left": "Time left",
        "minutes": "min",
        "image": "The captcha image, as the site served it",
        "image_shot": "The captcha image (a screenshot of the page's element)",
        "audio": "Audio version, as the site serves it",
        "answer": "Security code (type it as you read or hear it)",
        "send": "Send my answer",
        "wrong": "The site refused this code and shows a new captcha: try again.",
        "solved": "The site accepted the code: the watchdog now reads the slot page.",
        "refused": "Answer not sent (empty, too long, or the session is closed).",
        "left_journey": "The site answered with another page: the session is closed.",
        "reading": "Captcha solved by a person; reads of the slot page",
        "ended": "Session closed",
        "reason": "Reason",
        "none": "No session waiting. One opens when a probe in assisted mode meets the captcha.",
        "state": "State",
        "waiting": "waiting for an answer",
        "open": "Answer",
    },
}

# French typography: a no-break space before the colon and the semicolon.
WORDS["fr"] = {
    k: v.replace(" :", "\u00a0:").replace(" ;", "\u202f;") for k, v in WORDS["fr"].items()
}


class AssistPages:
    """The desk's routes, rendered with the workbench's templates and guard."""

    def __init__(
        self, desk: Desk, page: Callable[..., Response], state_of: Callable[[Request], Any]
    ) -> None:
        self.desk = desk
        self.page = page  # the workbench's page(template, state, **context)
        self.state_of = state_of  # the workbench's language state of a request (no period)
        self.secret = secrets.token_bytes(32)

    def routes(self) -> list[Route]:
        return [
            Route(PREFIX, self.index),
            Route(PREFIX + "/{sid}", self.session_page),
            Route(PREFIX + "/{sid}/image", self.image),
            Route(PREFIX + "/{sid}/audio", self.audio),
            Route(PREFIX + "/{sid}/reponse", self.answer, methods=["POST"]),
        ]

    def session(self, request: Request) -> AssistedSession:
        sid = request.path_params["sid"]
        found = self.desk.get(sid) if data.safe_id(sid) else None
        if found is None:
            raise HTTPException(404, "no such assisted session")
        return found

    def desk_state(self, request: Request) -> Any:
        """The workbench's state of `request`, whose header says what this desk does (the
        workbench's own says « read-only », which these pages are not)."""
        state = self.state_of(request)
        return replace(state, words={**state.words, "tagline": WORDS[state.lang]["tagline"]})

    def csrf(self, cookie: str, sid: str) -> str:
        return hmac.new(self.secret, f"{cookie}:{sid}".encode(), hashlib.sha256).hexdigest()

    async def index(self, request: Request) -> Response:
        state = self.desk_state(request)
        return self.page("assist_list.html.j2", state, a=WORDS[state.lang], desk=self.desk,
                         now=self.desk.clock())  # fmt: skip

    async def session_page(self, request: Request) -> Response:
        state = self.desk_state(request)
        session = self.session(request)
        cookie = request.cookies.get(CSRF_COOKIE) or secrets.token_urlsafe(24)
        result = request.query_params.get("resultat")
        now = self.desk.clock()
        left = session.seconds_left(now)
        response = self.page(
            "assist.html.j2", state, a=WORDS[state.lang], d=session, Status=Status,
            result=result if result in RESULTS else None, csrf=self.csrf(cookie, session.id),
            left_min=(left + 59) // 60, until=state.paris(now + timedelta(seconds=left)),
        )  # fmt: skip
        response.set_cookie(CSRF_COOKIE, cookie, httponly=True, samesite="strict", path=PREFIX)
        return response

    async def image(self, request: Request) -> Response:
        media = await self.desk.captcha_image(self.session(request).id)
        if media is None:
            raise HTTPException(404, "no captcha image on this session's page")
        return Response(media.body, media_type=media.media_type,
                        headers={"x-captcha-source": media.how})  # fmt: skip

    async def audio(self, request: Request) -> Response:
        media = await self.desk.captcha_audio(self.session(request).id)
        if media is None:
            raise HTTPException(404, "no captcha sound on this session's page")
        return Response(media.body, media_type=media.media_type)

    async def answer(self, request: Request) -> Response:
        """The person's form: checked (CSRF token and its cookie), then handed on unchanged."""
        session = self.session(request)
        kind = request.headers.get("content-type", "").split(";")[0].strip()
        body = await request.body()
        if kind != "application/x-www-form-urlencoded" or len(body) > MAX_FORM_BYTES:
            raise HTTPException(400, "this form is a few urlencoded characters")
        form = parse_qs(body.decode("utf-8", "replace"), max_num_fields=4)
        cookie = request.cookies.get(CSRF_COOKIE, "")
        given = (form.get("csrf") or [""])[0]
        if not cookie or not hmac.compare_digest(given, self.csrf(cookie, session.id)):
            raise HTTPException(403, "this form was not sent from the assist page")
        text = (form.get("captchaUsercode") or [""])[0]
        result = await self.desk.submit_person_answer(session.id, text)
        lang = "&lang=en" if request.query_params.get("lang") == "en" else ""
        where = f"{PREFIX}/{session.id}?resultat={result.value}{lang}"
        return RedirectResponse(where, status_code=303)
