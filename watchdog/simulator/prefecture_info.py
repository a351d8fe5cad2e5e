"""Prefecture information pages for the substitute channel check (issue 18 item 4).

These are our own test pages, not replicas: no real platform's markup or wording is copied
(docs/platforms.md has none for these pages), and each says so in a banner. Each variant
publishes, in a passage for people who cannot book online, exactly the channels its name
lists; every page also carries, outside that passage, a switchboard number, a data-protection
address and a CERFA form to download, which the check must not count. The numbers are in
the range ARCEP keeps for fiction (01 99 00 …), the addresses on reserved names.

- `/prefecture-info/{variant}`: `all`, `none`, `form`, `email`, `postal`, `phone`, and
  `form-down` (its form's page answers 503);
- `/prefecture-info/contact`: the contact form's page (200); `/prefecture-info/contact-down`
  answers 503; `/prefecture-info/error` answers 500 (an information page not read).
"""

from __future__ import annotations

from aiohttp import web

PREFIX = "/prefecture-info"
EMAIL = "contact-sejour@simulateur.example"
PHONE = "01 99 00 12 34"
STREET = "1 rue de l'Exemple"
TOWN = "99999 Villetest"
CHANNELS = ("form", "email", "postal", "phone")
VARIANTS: dict[str, tuple[str, ...]] = {
    "all": CHANNELS,
    "none": (),
    **{kind: (kind,) for kind in CHANNELS},
    "form-down": ("form-down",),
}
BANNER = (
    '<p class="sim-banner"><strong>Page de test du simulateur watchdog</strong> : ce n\'est '
    "la page d'aucune préfecture réelle.</p>"
)
PAGE = """<!doctype html><html lang="fr"><head><meta charset="utf-8">
<meta name="robots" content="noindex"><title>{title} (simulateur)</title></head>
<body>{banner}<main><h1>{title}</h1>{body}</main>
<footer><p>Standard de la préfecture (simulateur) : 01 99 00 00 00.</p>
<p>Délégué à la protection des données : <a href="mailto:dpo@simulateur.example">dpo@simulateur.example</a></p>
<p><a href="{prefix}/cerfa.pdf">Formulaire de demande de titre de séjour (PDF)</a></p>
</footer></body></html>"""  # noqa: E501
INTRO = (
    "<p>Les rendez-vous pour le dépôt d'une demande de titre de séjour se prennent en ligne. "
    "Les créneaux sont ouverts au fur et à mesure des disponibilités.</p>"
)
PIECES = {
    "form": f'<p><a href="{PREFIX}/contact">Accéder au formulaire de contact</a></p>',
    "form-down": f'<p><a href="{PREFIX}/contact-down">Accéder au formulaire de contact</a></p>',
    "email": f'<p>Écrivez-nous à <a href="mailto:{EMAIL}">{EMAIL}</a> en précisant votre démarche.</p>',  # noqa: E501
    "postal": f"<p>Par courrier : Préfecture du simulateur, bureau du séjour, {STREET}, {TOWN}</p>",
    "phone": f"<p>Appelez le {PHONE} du lundi au vendredi, de 9 h à 12 h.</p>",
}


def page(variant: str) -> str:
    pieces = "".join(PIECES[kind] for kind in VARIANTS[variant]) or (
        "<p>Nous vous invitons à réessayer ultérieurement.</p>"
    )
    body = (
        INTRO
        + "<h2>Vous ne parvenez pas à prendre rendez-vous en ligne ?</h2>"
        + pieces
        + "<h2>Après le rendez-vous</h2><p>Présentez-vous avec votre convocation.</p>"
    )
    title = "Prendre rendez-vous pour un titre de séjour"
    return PAGE.format(title=title, body=body, banner=BANNER, prefix=PREFIX)


async def information(request: web.Request) -> web.Response:
    variant = request.match_info["variant"]
    if variant not in VARIANTS:
        raise web.HTTPNotFound()
    return web.Response(text=page(variant), content_type="text/html")


async def contact(request: web.Request) -> web.Response:
    body = (
        '<form method="post" action="#"><p><label for="message">Votre message</label> '
        '<textarea id="message" name="message"></textarea></p>'
        "<p><button>Envoyer</button></p></form>"
    )
    text = PAGE.format(title="Formulaire de contact", body=body, banner=BANNER, prefix=PREFIX)
    return web.Response(text=text, content_type="text/html")


async def unavailable(request: web.Request) -> web.Response:
    return web.Response(status=503, text="Service indisponible (simulateur)")


async def error(request: web.Request) -> web.Response:
    return web.Response(status=500, text="Erreur interne (simulateur)")


def add_routes(app: web.Application) -> None:
    router = app.router
    router.add_get(PREFIX + "/contact", contact)
    router.add_get(PREFIX + "/contact-down", unavailable)
    router.add_get(PREFIX + "/error", error)
    router.add_get(PREFIX + "/{variant:[a-z-]+}", information)
