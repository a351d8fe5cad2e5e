"""HTML of RDV-Préfecture (`/rdvpref/reservation/demarche/<id>/…`), docs/readings.md"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from html import escape

from watchdog.simulator.availability import Availability, monday_of
from watchdog.simulator.chrome import esc
from watchdog.simulator.french import dmy, hm, short_day
from watchdog.simulator.variants import QUASAR_DIALOG, Variant
from watchdog.simulator.variants import late as late_render

PISTE_PATH = "/piste/captcha/simple-captcha-endpoint"
STYLE = "captchaFR"
NO_SLOT_WEEK = "Aucun créneau disponible sur cette semaine"
NO_SLOT_LAST_WEEK = "Aucun créneau disponible à partir de cette date."
RETRY_LATER = "Veuillez réessayer ultérieurement."
ERRORS = {
    "invalidCaptcha": "Le code saisi ne correspond pas à l'image. Merci de saisir un nouveau code.",
    "errorSessionInvalide": (
        "Votre session a expiré ou n'est plus valide. "
        "Merci de saisir à nouveau le code de sécurité."
    ),
}
# Drops `?error=…` from the address bar once loaded, as the real front end does: a probe must
# read the HTTP redirect target, not the URL the browser shows.
STRIP_ERROR_JS = """<script>
(function () {
  var url = new URL(window.location.href);
  if (url.searchParams.has("error")) {
    url.searchParams.delete("error");
    window.history.replaceState(window.history.state, "", url.pathname + url.search + url.hash);
  }
})();
</script>"""


def _btn(
    label: str,
    *,
    href: str | None = None,
    kind: str = "bg-primary text-white",
    submit: bool = True,
) -> str:
    classes = (
        "q-btn q-btn-item non-selectable no-outline q-btn--standard q-btn--rectangle "
        f"{kind} q-btn--actionable q-focusable q-hoverable"
    )
    inner = f'<span class="q-btn__content"><span class="block">{esc(label)}</span></span>'
    if href is not None:
        return f'<a class="{classes}" href="{escape(href)}">{inner}</a>'
    return f'<button type="{"submit" if submit else "button"}" class="{classes}">{inner}</button>'


def landing(label: str, site: str, base: str) -> str:
    return f"""<div class="q-pa-md rdv-demarche">
<p class="fr-tag">{esc(site)}</p>
<h1 class="text-h4">{esc(label)}</h1>
<div class="fr-callout"><p>Ce service vous permet de prendre rendez-vous en préfecture pour la
démarche ci-dessus. Munissez-vous des pièces justificatives demandées.</p>
<p>La prise de rendez-vous est gratuite. Les créneaux sont mis en ligne régulièrement.</p></div>
<div class="row q-gutter-md">
{_btn("Prendre un rendez-vous", href=base + "/cgu/")}
{_btn("Gérer mes rendez-vous", href="/rdvpref/login/", kind="q-btn--outline text-primary")}
</div></div>"""


def botdetect(captcha_id: str) -> str:
    image = f"{PISTE_PATH}?get=image&amp;c={STYLE}&amp;t={captcha_id}"
    sound = f"{PISTE_PATH}?get=sound&amp;c={STYLE}&amp;t={captcha_id}"
    return f"""<div id="BDC_CaptchaComponent" class="BDC_CaptchaDiv">
 <div class="captcha"><img id="{STYLE}_CaptchaImage" class="BDC_CaptchaImage" src="{image}"
  alt="Recopiez le code de sécurité de l'image" width="200" height="70"></div>
 <div class="BDC_CaptchaIconsDiv">
  <a id="{STYLE}_SoundLink" class="BDC_SoundLink" href="{sound}"
   title="Énoncer le code de sécurité">Énoncer le code</a>
  <audio id="BDC_CaptchaSoundAudio_{STYLE}" preload="none"></audio>
  <button type="button" id="{STYLE}_ReloadLink" class="fr-btn fr-btn--tertiary-no-outline"
   onclick="document.getElementById('{STYLE}_CaptchaImage').src='{PISTE_PATH}?get=image&amp;c={STYLE}&amp;t={captcha_id}&amp;d='+Date.now()"
   >Générer un nouveau captcha</button>
 </div>
 <input type="hidden" name="BDC_VCID_{STYLE}" id="BDC_VCID_{STYLE}" value="{captcha_id}">
 <input type="hidden" name="BDC_BackWorkaround_{STYLE}" id="BDC_BackWorkaround_{STYLE}" value="1">
</div>"""


@dataclass(frozen=True)
class CaptchaView:
    label: str
    base: str
    endpoint: str
    token: str
    captcha_id: str
    error: str | None


def captcha(view: CaptchaView) -> str:
    alert = ""
    if view.error in ERRORS:
        alert = f'<div class="fr-alert fr-alert--error"><p>{esc(ERRORS[view.error])}</p></div>'
    return f"""<div class="q-pa-md rdv-cgu">
<h1 class="text-h5">Constituez votre dossier</h1>
<p class="fr-text--lead">{esc(view.label)}</p>
<p class="fr-stepper__state">Étape 1 sur 6</p>
{alert}
<section class="cgu"><h2>Conditions générales d'utilisation</h2>
<p>En poursuivant, vous acceptez les conditions générales d'utilisation du service. Le rendez-vous
est personnel et gratuit.</p></section>
<form id="formCaptcha" method="post" action="{escape(view.base)}/_validerCaptcha">
<p>Pour continuer, recopiez le code de sécurité affiché dans l'image.</p>
<rdv-captchetat endpoint="{escape(view.endpoint)}" captcha-style-name="{STYLE}"
 token="{escape(view.token)}">
{botdetect(view.captcha_id)}
</rdv-captchetat>
<input type="hidden" name="captchaId" value="{view.captcha_id}">
<div class="fr-input-group">
 <label class="fr-label" for="captchaFormulaireExtInput">Saisissez le code de sécurité
  <span class="fr-hint-text">8 caractères, lettres et chiffres</span></label>
 <input class="fr-input" type="text" id="captchaFormulaireExtInput" name="captchaUsercode"
  autocomplete="off" maxlength="8">
</div>
{_btn("Suivant")}
</form></div>"""


@dataclass(frozen=True)
class SlotView:
    """Everything the `creneau/` page shows."""

    label: str
    base: str
    today: date
    now: datetime
    availability: Availability
    variant: str
    agenda_id: int
    presentation: frozenset[Variant] = frozenset()


def trh_id(slot: datetime) -> str:
    return slot.strftime("%y%m%d%H%M")


def critere(view: SlotView, first_day: date) -> dict[str, object]:
    avail = view.availability
    latest = avail.slots[-1].date() if avail.slots else view.today + timedelta(days=27)
    minutes = view.now.hour * 60 + view.now.minute if first_day == view.today else 0
    return {
        "datePremiereDispo": dmy(avail.earliest) if avail.earliest else "",
        "dateMin": dmy(view.today),
        "dateMax": dmy(latest),
        "ageIds": [view.agenda_id],
        "premierJour": dmy(first_day),
        "minutesMin": minutes,
    }


def _publication(kind: str, moment: datetime | None, avail: Availability) -> str:
    if moment is None:
        return ""
    text = {
        "next": "Prochaine mise en ligne de nouveaux rendez-vous",
        "last": "Dernière mise en ligne de rendez-vous",
    }[kind]
    week = dmy(avail.week_of(moment))
    return (
        f'<p class="text-italic publication-{kind}"><span>{text} : le {dmy(moment)} à '
        f"{hm(moment)}</span> <span>pour des créneaux de la semaine du {week}</span></p>"
    )


def notices(avail: Availability) -> str:
    return _publication("next", avail.next_publication, avail) + _publication(
        "last", avail.last_publication, avail
    )


def _item(i: int, slot: datetime) -> str:
    even = " even" if i % 2 else ""
    sid = trh_id(slot)
    return (
        f'<li class="row cellule justify-center radio-card{even}">'
        f'<input type="radio" name="trhId" id="trhId_{sid}" data-value="{sid}" '
        f'value="{sid}"><label class="fr-label" for="trhId_{sid}">'
        f"{slot:%H}h{slot:%M}</label></li>"
    )


SHOWN_ROWS = 2  # rows shown before « Voir plus de créneaux » (collapsed presentation)
MORE_BUTTON = (
    '<button type="button" class="fr-btn fr-btn--tertiary-no-outline"{onclick}>'
    "Voir plus de créneaux</button>"
)


def _columns(slots: tuple[datetime, ...], first_day: date, collapsed: bool) -> str:
    columns, hidden = [], {}
    for offset in range(7):
        day = first_day + timedelta(days=offset)
        items = [_item(i, slot) for i, slot in enumerate(s for s in slots if s.date() == day)]
        if collapsed and len(items) > SHOWN_ROWS:
            hidden[f"cellules-{offset}"] = "".join(items[SHOWN_ROWS:])
            items = items[:SHOWN_ROWS]
        columns.append(
            f'<div class="col celulleColumn"><div class="celulleHeader">{short_day(day)}</div>'
            f'<ul class="cellules" id="cellules-{offset}">{"".join(items)}</ul></div>'
        )
    body = '<div class="row calendrier">' + "\n".join(columns) + "</div>"
    if not collapsed:
        return body + "\n" + MORE_BUTTON.format(onclick="")
    # The rows beyond the first ones are rendered only when the button is pressed.
    show = (
        f" onclick='var more = {json.dumps(hidden, ensure_ascii=False)};"
        ' for (var id in more) { document.getElementById(id).insertAdjacentHTML("beforeend",'
        " more[id]); } this.remove();'"
    )
    return body + "\n" + MORE_BUTTON.format(onclick=show if hidden else "")


def _panels(slots: tuple[datetime, ...], first_day: date) -> str:
    """Mobile markup: one closed Quasar expansion item per day, rendered when opened."""
    panels = []
    for offset in range(7):
        day = first_day + timedelta(days=offset)
        todays = [s for s in slots if s.date() == day]
        inner = "".join(_item(i, slot) for i, slot in enumerate(todays))
        if not todays:
            inner = '<p class="q-pa-sm">Aucun créneau disponible</p>'
        opener = (
            f' onclick=\'this.setAttribute("aria-expanded", "true");'
            f" this.nextElementSibling.innerHTML = {json.dumps(inner, ensure_ascii=False)};'"
        )
        panels.append(
            '<div class="q-expansion-item q-item-type q-expansion-item--collapsed">'
            f'<div class="q-item q-item-type row q-item--clickable" role="button" tabindex="0"'
            f' aria-expanded="false"{opener}><div class="q-item__section">{short_day(day)}'
            '</div></div><div class="q-expansion-item__content"></div></div>'
        )
    return '<div class="q-list calendrier-mobile">' + "\n".join(panels) + "</div>"


def _no_slot(variant: str, first_day: date) -> str:
    if variant == "day":  # the empty week as its day panels (mobile), each with its sentence
        return _panels((), first_day)
    if variant == "last_week":
        return f'<h2 class="text-h6">{NO_SLOT_LAST_WEEK}</h2><p>{RETRY_LATER}</p>'
    if variant == "hidden":  # the calendar is not displayed at all
        return f"<p>{RETRY_LATER}</p>"
    return f'<h2 class="text-h6">{NO_SLOT_WEEK}</h2>'


def _later_week(earliest: datetime) -> str:
    """An empty week shown while a later one has a slot: its sentence and the primary button
    that leads to the first availability."""
    button = _btn(f"Prochaine disponibilité le {dmy(earliest)}", submit=False)
    return f'<h2 class="text-h6">{NO_SLOT_WEEK}</h2>\n{button}'


def slots(view: SlotView) -> str:
    avail = view.availability
    shown = view.presentation
    earliest = avail.earliest
    on_first = earliest is not None and Variant.THIS_WEEK not in shown
    first_day = monday_of(earliest.date() if earliest is not None and on_first else view.today)
    week = tuple(s for s in avail.slots if 0 <= (s.date() - first_day).days < 7)
    if week and Variant.MOBILE in shown:
        body = _panels(week, first_day)
    elif week:
        body = _columns(week, first_day, Variant.COLLAPSED in shown)
    elif earliest is not None:
        body = _later_week(earliest)
    else:
        body = _no_slot(view.variant, first_day)
    publications = f'<div class="publications">{notices(avail)}</div>'
    if Variant.LATE in shown:  # the front end renders the chooser from its data after `load`
        body, publications = late_render("rdv-choix-tranche-contenu", body + publications), ""
    extra = '<h2 class="text-h6">Informations</h2>' if Variant.BUSY in shown else ""
    dialog = QUASAR_DIALOG if Variant.DIALOG in shown else ""
    data = {"demarche": {"libelle": view.label}, "critere": critere(view, first_day)}
    data["precedentePub"] = _instant(avail.last_publication)
    data["prochainePub"] = _instant(avail.next_publication)
    return f"""{dialog}<div class="q-pa-md rdv-creneau">
<h1 class="text-h5">Choisissez votre créneau</h1>{extra}
<p class="fr-text--lead">{esc(view.label)}</p>
<p class="fr-stepper__state">Étape 2 sur 6</p>
<form id="formCreneau" method="post" action="{escape(view.base)}/_choisirCreneau">
<div id="rdv-choix-tranche" class="rdv-choix-tranche">
<div class="row semaine-nav">
<button type="button" class="q-btn" disabled>Semaine précédente</button>
<span class="semaine">Semaine du {dmy(first_day)}</span>
<button type="button" class="q-btn">Semaine suivante</button></div>
{body}
</div>
{publications}
{_btn("Suivant")}
</form></div>
<script>var rdvChoixTranche = {json.dumps(data, ensure_ascii=False)};</script>"""


def _instant(moment: datetime | None) -> str:
    return f"{dmy(moment)} {hm(moment)}" if moment else ""


def informations(base: str) -> str:
    fields = "\n".join(
        f'<div class="fr-input-group"><label class="fr-label" for="{name}">{text}</label>'
        f'<input class="fr-input" type="text" id="{name}" name="{name}"></div>'
        for name, text in (
            ("nom", "Nom"),
            ("prenom", "Prénom"),
            ("email", "Adresse électronique"),
            ("telephone", "Téléphone"),
        )
    )
    return f"""<div class="q-pa-md rdv-informations"><h1 class="text-h5">Vos informations</h1>
<form method="post" action="{escape(base)}/_confirmerReservation">
{fields}
<button type="submit" class="fr-btn" name="action" value="Confirmer le rendez-vous"
 >Confirmer le rendez-vous</button></form></div>"""


def confirmation() -> str:
    return """<div class="q-pa-md"><h1 class="text-h5">Demande enregistrée</h1>
<p>Un courriel vous a été envoyé. Confirmez votre rendez-vous dans les 15 minutes.</p></div>"""


def login() -> str:
    return """<div class="q-pa-md"><h1 class="text-h5">Gérer mes rendez-vous</h1>
<form method="post" action="/rdvpref/login/">
<div class="fr-input-group"><label class="fr-label" for="email">Adresse électronique</label>
<input class="fr-input" type="email" id="email" name="email"></div>
<div class="fr-input-group"><label class="fr-label" for="numero">Numéro de rendez-vous</label>
<input class="fr-input" type="text" id="numero" name="numeroReservation"></div>
<button type="submit" class="fr-btn">Se connecter</button></form></div>"""
