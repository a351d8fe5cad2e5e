"""HTML of eAppointment, Val-de-Marne (`/eAppointmentpref94/…`), docs/readings.md"""

from __future__ import annotations

import calendar
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from html import escape

from watchdog.simulator.chrome import esc
from watchdog.simulator.french import MONTHS, hm, long_date

NO_SLOT_ALERTS = {
    "motifs": (
        "Aucun rendez-vous n'est possible pour les motifs selectionnnés ou le créneau horaire "
        "séléctionné."
    ),
    "service": "Il n'y a pas de rendez-vous disponible pour ce service.",
}
INVALID_POSTCODE = "Veuillez saisir un code postal valide."
MOTIVE_ERROR = "Veuillez sélectionner au moins un motif."
MOTIVES = {
    "20": "Retrait de titres ( Après réception du SMS)",
    "21": "Retrait de récépissé",
    "22": "Remise de document de circulation pour étranger mineur",
    "23": "Changement d'adresse",
}
SITES = {
    "P941": "Préfecture de Créteil",
    "P942": "Sous-préfecture de Nogent-sur-Marne",
    "P943": "Sous-préfecture de L'Haÿ-les-Roses",
}
# Postal codes of the two sub-prefectures' districts; any other 94xxx goes to Créteil.
POSTCODES = {
    "P942": "94120 94130 94160 94170 94220 94300 94340 94350 94360 94430 94500",
    "P943": "94110 94150 94200 94230 94240 94250 94260 94270 94310 94320 94400 94550 94600 94800",
}

_ROUTING_JS = """<script>
var SITES_PAR_CP = %s;
function validerCP() {
  var cp = document.getElementById("CPId").value.replace(/\\s/g, "");
  if (!/^94[0-9]{3}$/.test(cp)) { alert("%s"); return false; }
  var site = SITES_PAR_CP[cp] || "P941";
  var mobile = window.innerWidth < 768 ? "true" : "false";
  window.location.href = "/eAppointmentpref94/appointment.do?sitekey=" + site + "&mobile=" + mobile;
  return false;
}
document.getElementById("CPId").addEventListener("keydown", function (e) {
  if (e.key === "Enter") { e.preventDefault(); validerCP(); }
});
</script>"""


def routing_table() -> dict[str, str]:
    return {code: site for site, codes in POSTCODES.items() for code in codes.split()}


def entry() -> tuple[str, str]:
    """The postal-code page and its routing script."""
    content = """<h2>Choix du lieu de rendez-vous</h2>
<p>Veuillez saisir le code postal de votre domicile afin d'être orienté vers le site
compétent (Créteil, Nogent-sur-Marne ou L'Haÿ-les-Roses).</p>
<form id="formCP" name="formCP" onsubmit="return validerCP();">
<div class="form-group"><label for="CPId">Code postal</label>
<input type="text" id="CPId" name="CP" class="form-control" maxlength="5"></div>
<input type="button" class="btn btn-primary" value="Continuer" onclick="validerCP();">
</form>"""
    script = _ROUTING_JS % (json.dumps(routing_table()), INVALID_POSTCODE)
    return content, script


def motive(site: str, action: str, error: str | None = None) -> str:
    boxes = "\n".join(
        f'<div class="checkbox"><label><input type="checkbox" name="selectedMotiveKeyList" '
        f'value="{key}" id="motive{key}"> {esc(text)}</label></div>'
        for key, text in MOTIVES.items()
    )
    alert = f'<div class="alert alert-danger">{esc(error)}</div>' if error else ""
    return f"""<h2>2/4 : Choix du motif</h2>
<p>Rendez-vous au {esc(site)}</p>
{alert}
<form id="form1" name="form1" method="post" action="{escape(action)}">
<input type="hidden" name="previousValueId" value="false">
<fieldset><legend>Motif du rendez-vous</legend>
{boxes}
</fieldset>
<input type="button" class="btn btn-default" value="Retour" onclick="history.back()">
<input type="submit" class="btn btn-primary" id="nextButtonId" name="nextButton" value="Continuer">
</form>"""


@dataclass(frozen=True)
class CalendarView:
    site: str
    action: str
    motives: Sequence[str]
    slots: Sequence[datetime]
    today: date
    alert: str | None
    alert_delay_ms: int = 0


def _datepicker_month(year: int, month: int, free_days: set[date]) -> str:
    rows = []
    for week in calendar.Calendar(firstweekday=0).monthdatescalendar(year, month):
        cells = []
        for day in week:
            if day.month != month:
                cells.append('<td class="ui-datepicker-other-month ui-state-disabled">&#xa0;</td>')
            elif day in free_days:
                cells.append(
                    f'<td class=" ui-datepicker-days-cell-over" data-handler="selectDay" '
                    f'data-event="click" data-month="{month - 1}" data-year="{year}">'
                    f'<a class="ui-state-default" href="#">{day.day}</a></td>'
                )
            else:
                cells.append(
                    '<td class=" ui-datepicker-unselectable ui-state-disabled">'
                    f'<span class="ui-state-default">{day.day}</span></td>'
                )
        rows.append(f"<tr>{''.join(cells)}</tr>")
    heads = "".join(
        f"<th><span>{d}</span></th>" for d in ("Lu", "Ma", "Me", "Je", "Ve", "Sa", "Di")
    )
    return f"""<div class="ui-datepicker-group">
<div class="ui-datepicker-header ui-widget-header ui-helper-clearfix ui-corner-all">
<div class="ui-datepicker-title">
<span class="ui-datepicker-month">{MONTHS[month - 1]}</span>&#xa0;<span
 class="ui-datepicker-year">{year}</span></div></div>
<table class="ui-datepicker-calendar"><thead><tr>{heads}</tr></thead>
<tbody>{"".join(rows)}</tbody></table></div>"""


def datepicker(start: date, free_days: set[date]) -> str:
    second = date(start.year + start.month // 12, start.month % 12 + 1, 1)
    groups = _datepicker_month(start.year, start.month, free_days) + _datepicker_month(
        second.year, second.month, free_days
    )
    return (
        '<div id="datepicker" class="hasDatepicker">'
        '<div class="ui-datepicker-inline ui-datepicker ui-widget ui-widget-content '
        f'ui-helper-clearfix ui-datepicker-multi-2">{groups}</div></div>'
    )


def _hours(day: date, slots: Sequence[datetime], visible: bool) -> str:
    todays = [s for s in slots if s.date() == day]
    columns = []
    for index in range(0, len(todays), 3):
        radios = "".join(
            f'<div class="radio"><label><input type="radio" name="selectedHour" '
            f'value="{s:%Y-%m-%dT%H:%M}"> A {hm(s)}</label></div>'
            for s in todays[index : index + 3]
        )
        columns.append(f'<div class="availabilityColumn{index // 3 + 1}">{radios}</div>')
    style = "" if visible else ' style="display:none"'
    return (
        f'<div class="availabilityDay" data-day="{day.isoformat()}"{style}>{"".join(columns)}</div>'
    )


def _days(slots: Sequence[datetime]) -> list[date]:
    return sorted({s.date() for s in slots})


def calendar_page(view: CalendarView) -> tuple[str, str]:
    """The "3/4 : Lieu, date et heure" page and its scripts (day picking, no-slot alert)."""
    days = _days(view.slots)
    disabled = "" if days else " disabled"
    options = "".join(f'<option value="{d.isoformat()}">{long_date(d)}</option>' for d in days)
    first_hours = (
        "".join(
            f'<option value="{s:%H:%M}">{hm(s)}</option>' for s in view.slots if s.date() == days[0]
        )
        if days
        else ""
    )
    soonest = ""
    if view.slots:
        first = view.slots[0]
        soonest = f'<p class="soonestText">{long_date(first.date())} à {hm(first)}</p>'
    hours = "".join(_hours(d, view.slots, i == 0) for i, d in enumerate(days))
    motives = "".join(
        f"<p>Motif du rendez-vous : {esc(MOTIVES.get(m, m))} : 1</p>" for m in view.motives
    )
    start = days[0] if days else view.today
    content = f"""<h2>3/4 : Lieu, date et heure</h2>
<div class="row"><div class="col-md-8">
<form id="form1" name="form1" method="post" action="{escape(view.action)}">
<p>Veuillez sélectionner la date puis l'heure souhaitée.</p>
<h3>Choix de la date</h3>
<p>Choisissez la date (cliquez sur le calendrier).</p>
{datepicker(date(start.year, start.month, 1), set(days))}
<div class="form-group"><label for="dayValueId">A partir de</label>
<select id="dayValueId" name="dayValue" class="form-control"{disabled}>{options}</select></div>
{soonest}
<h3>Choix d'une heure</h3>
<select id="hourValueSelect" name="hourValue" class="form-control"{disabled}>{first_hours}</select>
<div id="availabilities">{hours}</div>
<input type="button" class="btn btn-default" value="Retour" onclick="history.back()">
<input type="submit" class="btn btn-primary" id="nextButtonId" value="Continuer"{disabled}>
</form></div>
<div class="col-md-4"><div class="panel panel-default resume">
<div class="panel-heading">Résumé :</div>
<div class="panel-body"><p>Rendez-vous au {esc(view.site)}</p>{motives}</div></div></div></div>"""
    return content, _calendar_js(view.alert, view.alert_delay_ms)


def _calendar_js(alert: str | None, delay_ms: int = 0) -> str:
    script = """<script>
function choisirJour(iso) {
  document.getElementById("dayValueId").value = iso;
  var hours = document.getElementById("hourValueSelect");
  hours.innerHTML = "";
  document.querySelectorAll(".availabilityDay").forEach(function (day) {
    var shown = day.getAttribute("data-day") === iso;
    day.style.display = shown ? "" : "none";
    if (shown) {
      day.querySelectorAll("input[type=radio]").forEach(function (radio) {
        var opt = document.createElement("option");
        opt.value = opt.textContent = radio.value.slice(11);
        hours.appendChild(opt);
      });
    }
  });
}
document.querySelectorAll("td[data-handler=selectDay] a").forEach(function (a) {
  a.addEventListener("click", function (e) {
    e.preventDefault();
    var td = a.parentNode, m = Number(td.dataset.month) + 1, d = Number(a.textContent);
    var pad = function (n) { return String(n).padStart(2, "0"); };
    choisirJour(td.dataset.year + "-" + pad(m) + "-" + pad(d));
  });
});
document.getElementById("dayValueId").addEventListener("change", function (e) {
  choisirJour(e.target.value);
});
</script>"""
    if alert:
        script += (
            '\n<script>window.addEventListener("load", function () { setTimeout(function () {'
            f" alert({json.dumps(alert, ensure_ascii=False)}); }}, {delay_ms}); }});</script>"
        )
    return script


def user_info(action: str) -> str:
    fields = "\n".join(
        f'<div class="form-group"><label for="{name}">{label}</label>'
        f'<input type="text" class="form-control" id="{name}" name="{name}"></div>'
        for name, label in (
            ("userLastName", "Nom"),
            ("userFirstName", "Prénom"),
            ("numeroEtranger", "Numéro étranger"),
            ("userZip", "Code postal"),
            ("userEmail", "Email"),
            ("userPhone", "Téléphone"),
        )
    )
    return f"""<h2>4/4 : informations personnelles</h2>
<form id="form2" name="form2" method="post" action="{escape(action)}">
<div class="form-group"><label for="userCiv">Civilité</label>
<select id="userCiv" name="userCiv" class="form-control"><option>M.</option><option>Mme</option>
</select></div>
{fields}
<div class="form-group"><label for="imgc">Code de vérification (*)</label>
<img src="/eAppointmentpref94/captcha.png" alt="code" id="captchaImg">
<input type="text" class="form-control" id="imgc" name="imgc" maxlength="4">
<p class="help-block">Veuillez saisir le code ci-dessus. Impossible de lire l'image? Cliquez dessus
pour en avoir une autre.</p></div>
<input type="button" class="btn btn-default" value="Retour" onclick="history.back()">
<input type="submit" class="btn btn-primary" id="saveRdvId" value="Confirmer">
</form>"""


def confirmation() -> str:
    return """<h2>Confirmation</h2><p>Votre rendez-vous est enregistré. Un courriel de
confirmation vous a été envoyé.</p>"""


def error_page() -> str:
    return """<h2>Erreur</h2><div class="alert alert-danger">Une erreur technique est survenue
lors du traitement de votre demande. Veuillez réessayer plus tard.</div>
<p><a href="/eAppointmentpref94/element/jsp/specific/pref94.jsp">Retour à l'accueil</a></p>"""


def site_name(sitekey: str, override: str | None, names: Mapping[str, str] = SITES) -> str:
    return override or names.get(sitekey, "Préfecture du Val-de-Marne")
