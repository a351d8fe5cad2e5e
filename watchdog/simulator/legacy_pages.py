"""HTML of the legacy eZ Publish booking module (`/booking/create/<id>/<step>`), step by step."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from datetime import date, datetime, timedelta
from html import escape

from watchdog.simulator.availability import SLOT_TIMES, monday_of
from watchdog.simulator.chrome import esc
from watchdog.simulator.french import hm, long_date, short_day
from watchdog.simulator.media import captcha_png

TABS = (
    "Prise de rendez-vous",
    "Descriptif",
    "Choix d'une plage",
    "Contrôle de sécurité",
    "Cordonnées personnelles",
    "Valider et terminer",
)
TAB_OF_STEP = {0: 0, 1: 0, 2: 0, 3: 1, 4: 2, 5: 3, 6: 3, 7: 3, 8: 4}
NO_SLOT_TEXT = (
    "Il n'existe plus de plage horaire libre pour votre demande de rendez-vous. "
    "Veuillez recommencer ultérieurement."
)
CLOSED_TEXT = "Attention : Cette page n'est pas disponible pour le moment !"
RETIRED_TEXT = "Ce lien a été désactivé définitivement"
CONDITION_LABEL = (
    "Veuillez cocher la case pour accepter les conditions d'utilisation avant de poursuivre "
    "le processus de prise de rendez-vous."
)
CONDITION_ERROR = "Vous devez accepter les conditions d'utilisation pour continuer."
PLANNING_ERROR = "Veuillez choisir la nature du rendez-vous."


def tabs(step: int) -> str:
    active = TAB_OF_STEP.get(step, len(TABS) - 1)
    items = "".join(
        f'<li class="etape{" active" if i == active else ""}">{esc(name)}</li>'
        for i, name in enumerate(TABS)
    )
    return f'<ul class="etapes" id="etapes_Booking">{items}</ul>'


def form(action: str, inner: str) -> str:
    return (
        f'<form id="FormBookingCreate" name="create" class="jqTransform FormValidate" '
        f'method="post" action="{escape(action)}">\n{inner}\n</form>'
    )


def _error(message: str | None) -> str:
    return f'<div class="message-error"><p>{esc(message)}</p></div>' if message else ""


def _next(value: str = "Etape suivante") -> str:
    return f'<input type="submit" class="Bbutton" name="nextButton" value="{escape(value)}">'


def step0(label: str, action: str, error: str | None = None) -> str:
    inner = f"""{_error(error)}
<div class="conditions">
<p>ATTENTION ! Toutes les prises de rendez-vous proposées sur ce site Internet sont gratuites.
Aucune entreprise n'est agréée par la préfecture pour prendre des rendez-vous à votre place.</p>
<p>Le rendez-vous est personnel : présentez-vous à l'heure indiquée muni de la convocation et
des pièces justificatives demandées. Un seul rendez-vous par personne.</p>
<p>Il n'existe pas d'autres dates que celles proposées par le calendrier. De nouveaux
créneaux sont ouverts régulièrement.</p>
<p>Nous vous conseillons d'utiliser un navigateur récent (Firefox recommandé).</p>
</div>
<p class="Bligne"><input type="checkbox" name="condition" id="condition" value="on">
<label for="condition">{esc(CONDITION_LABEL)}</label></p>
<div id="submit_Booking" class="submit_Booking">
<input type="submit" class="Bbutton" name="nextButton" value="Effectuer une demande de rendez-vous">
</div>"""
    return f"<h1>{esc(label)}</h1>\n{tabs(0)}\n{form(action, inner)}"


def step1(label: str, action: str, plannings: dict[str, str], error: str | None = None) -> str:
    options = "\n".join(
        f'<p class="Bligne"><input type="radio" class="radio" name="planning" '
        f'value="{escape(pid)}" id="planning{escape(pid)}">'
        f'<label for="planning{escape(pid)}">{esc(text)}</label></p>'
        for pid, text in plannings.items()
    )
    inner = f"""{_error(error)}
<fieldset id="fchoix_Booking"><legend>Que souhaitez-vous effectuer ?</legend>
{options}
</fieldset>
{_next()}"""
    return f"""<h1>{esc(label)}</h1>\n{tabs(1)}
<h2>Choix de la nature du rendez-vous</h2>\n{form(action, inner)}"""


# The module's later and English wordings of the same page (docs/readings.md).
NO_SLOT_WORDINGS = {
    "classic": NO_SLOT_TEXT,
    "english": "Please try later",
    "wording_2025": "Veuillez réessayer ultérieurement.",
    "no_calendar": "Il n'y a pas calendrier disponible",
}


def step2(label: str, action: str, wording: str = "classic") -> str:
    inner = f"""<p>{NO_SLOT_WORDINGS[wording]}</p>
<input type="submit" class="Bbutton" name="finishButton" value="Terminer">"""
    return f"""<h1>{esc(label)}</h1>\n{tabs(2)}
<h2>Vérification de disponibilité</h2>\n{form(action, inner)}"""


def step3(label: str, action: str, nature: str) -> str:
    inner = f"""<div class="description">
<p>Vous allez prendre rendez-vous pour : <strong>{esc(nature)}</strong>.</p>
<p>Munissez-vous de l'ensemble des pièces justificatives demandées et de votre convocation.</p>
</div>
{_next()}"""
    return f"""<h1>{esc(label)}</h1>\n{tabs(3)}
<h2>Description de la nature du rendez-vous</h2>\n{form(action, inner)}"""


LEGEND_TABLE = """<table class="legende"><tr><td class="status-1 free">libre</td>
<td class="status-2 full">complet</td></tr></table>"""


def step4(label: str, action: str, week: str, *, legend_table: bool = False) -> str:
    """Step 4 around `week`: the calendar table itself, or what fetches it after `load`."""
    legend = LEGEND_TABLE if legend_table else ""
    inner = f"""<p>Cliquez sur une plage horaire libre pour la sélectionner.</p>
{legend}
{week}
<p class="legende">Légende : <span class="status-1 free">libre</span>
<span class="status-2 full">complet</span></p>
<input type="submit" class="Bbutton" name="nextButton" value="Première plage horaire libre">
{_next()}"""
    return f"""<h1>{esc(label)}</h1>\n{tabs(4)}
<h2>Choix d'une plage horaire</h2>\n{form(action, inner)}"""


def calendar(slots: Sequence[datetime], english: bool = False, monday: date | None = None) -> str:
    """The weekly table of the week from `monday` (default: the week holding the earliest
    slot): one `td.free` per free slot, « complet » elsewhere."""
    monday = monday or monday_of(slots[0].date())
    days = [monday + timedelta(days=i) for i in range(7)]
    free = {(s.date(), s.time()): s for s in slots}
    period = f"Semaine du {long_date(days[0])} au {long_date(days[-1])}"
    if english:
        period = f"Week from {long_date(days[0])} to {long_date(days[-1])}"
    head = "".join(f"<th>{short_day(d)}</th>" for d in days)
    rows = []
    for start in SLOT_TIMES:
        cells = []
        for day in days:
            slot = free.get((day, start))
            if slot is not None:
                cells.append(
                    f'<td class="status-1 free"><label>'
                    f'<input type="radio" name="slot" value="{slot:%Y%m%d%H%M}"> '
                    f'<span class="heure">{hm(slot)}</span> libre</label></td>'
                )
            else:
                cells.append(
                    f'<td class="status-2 full"><span class="heure">{start:%H:%M}</span>'
                    " complet</td>"
                )
        rows.append(f"<tr><th>{start:%H:%M}</th>{''.join(cells)}</tr>")
    body = "\n".join(rows)
    return f"""<table class="calendrier" id="calendrier_Booking">
<thead><tr><th class="prev"><button type="button">&lt;</button></th>
<th colspan="6" class="semaine">{period}</th>
<th class="next"><button type="button">&gt;</button></th></tr>
<tr><th>Horaire</th>{head}</tr></thead>
<tbody>
{body}
</tbody></table>"""


def captcha_step(label: str, action: str, booking_id: str) -> str:
    image = base64.b64encode(captcha_png(f"legacy:{booking_id}")).decode()
    inner = f"""<p>Recopiez les caractères de l'image ci-dessous.</p>
<p><img id="captchaImage" src="data:image/png;base64,{image}" alt="Image de contrôle">
<a href="#" class="captchaAudio">Écouter le code</a></p>
<p><label for="eZHumanCAPTCHACode">Code de sécurité</label>
<input type="text" name="eZHumanCAPTCHACode" id="eZHumanCAPTCHACode"></p>
{_next()}"""
    return f"""<h1>{esc(label)}</h1>\n{tabs(6)}
<h2>Contrôle de sécurité</h2>\n{form(action, inner)}"""


PERSONAL = (
    ("firstname", "Prénom"),
    ("lastname", "Nom"),
    ("email", "Courriel"),
    ("emailcheck", "Confirmation du courriel"),
    ("number_agdref", "Numéro AGDREF"),
    ("end_date_validity", "Date de fin de validité du titre"),
    ("post_code", "Code postal"),
)


def personal_step(label: str, action: str) -> str:
    fields = "\n".join(
        f'<p class="Bligne"><label for="{name}">{text}</label>'
        f'<input type="text" name="{name}" id="{name}"></p>'
        for name, text in PERSONAL
    )
    return f"""<h1>{esc(label)}</h1>\n{tabs(8)}
<h2>Cordonnées personnelles</h2>\n{form(action, fields + _next())}"""


def final_step(label: str, action: str) -> str:
    inner = f"""<p>Vérifiez vos informations puis validez votre demande. Un courriel de
confirmation vous sera envoyé.</p>\n{_next("Valider et terminer")}"""
    return f"""<h1>{esc(label)}</h1>\n{tabs(9)}
<h2>Valider et terminer</h2>\n{form(action, inner)}"""


def notice(label: str, text: str) -> str:
    return f"""<h1>{esc(label)}</h1>
<div class="message-warning"><p>{esc(text)}</p></div>"""
