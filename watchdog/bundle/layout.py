"""What an evidence bundle holds, shared by the exporter and the offline verifier.

LISEZMOI.txt            how to check the bundle, in plain French and English
manifest.json           every other file with its SHA-256 and size; each chain's ends
SHA256SUMS              `sha256sum -c` lines for every file, manifest.json included
observations.jsonl      one line per observation: the exact canonical JSON that was hashed
observations.csv        the same observations as a table (derived; re-derived by verify)
checkpoint.json         the last signed checkpoint of the chain heads, when the store has one
horodatages/<d>.json    a timestamped checkpoint's canonical body (its SHA-256 is <d>) and
horodatages/<d>.tsr     the RFC 3161 reply over <d>, for each token that is the first to cover
                        an exported observation (watchdog/store/timestamps.py)
horodatages/ca-tsa.pem  the TSA's CA certificate(s) the tokens were checked against
rapport/…               the report (HTML, PDF)
preuves/<sha256>.<ext>  each evidence file, named by its own SHA-256; a page kept as skeleton
                        + volatile record (watchdog/evidence/volatile.py) is there as both blobs
                        (.html, .json) and as the page as served (.html, its html_sha256)
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable
from typing import Any

# Format 2 drops the CSV's `har` column, which no observation ever filled (no probe records a
# HAR): a column is a claim. Format 3 adds `slots_seen` (issue 19), the slots a page offered
# one by one, as the JSON of the hashed document. Bundles of formats 1 and 2 still verify,
# each with its own columns.
FORMAT = "prefecture-watchdog-bundle/3"
FORMAT_2 = "prefecture-watchdog-bundle/2"
FORMAT_1 = "prefecture-watchdog-bundle/1"
README = "LISEZMOI.txt"
MANIFEST = "manifest.json"
SUMS = "SHA256SUMS"
JSONL = "observations.jsonl"
CSV = "observations.csv"
CHECKPOINT = "checkpoint.json"
TIMESTAMP_DIR = "horodatages"
TSA_CA = f"{TIMESTAMP_DIR}/ca-tsa.pem"
TIMESTAMP_NAME = re.compile(rf"^{TIMESTAMP_DIR}/([0-9a-f]{{64}})\.(json|tsr)$")
REPORT_DIR = "rapport"
EVIDENCE_DIR = "preuves"
EXTENSIONS = {
    "screenshot": "png", "framed": "png", "html": "html", "html_volatile": "json",
    "html_sha256": "html", "har": "har", "trace": "zip", "resources": "json",
    "axe": "json", "captcha": "img",  # a captcha as served: its type is in the record
}  # fmt: skip
CSV_EVIDENCE = ("screenshot", "framed", "html", "har", "trace")
EVIDENCE_NAME = re.compile(rf"^{EVIDENCE_DIR}/([0-9a-f]{{64}})\.(png|html|json|har|zip|img)$")
SUM_LINE = re.compile(r"^([0-9a-f]{64})  (\S.*)$")

CSV_COLUMNS_1 = (
    "target", "seq", "id", "started_at", "finished_at", "outcome", "detail", "message",
    "slots", "earliest_slot", "published_next", "final_url", "http_status", "duration_s",
    "screenshot", "framed", "html", "har", "trace", "simulated", "prev_hash", "hash",
)  # fmt: skip
CSV_COLUMNS_2 = tuple(c for c in CSV_COLUMNS_1 if c != "har")
_AT = CSV_COLUMNS_2.index("slots") + 1
CSV_COLUMNS = (*CSV_COLUMNS_2[:_AT], "slots_seen", *CSV_COLUMNS_2[_AT:])
COLUMNS_BY_FORMAT = {FORMAT: CSV_COLUMNS, FORMAT_2: CSV_COLUMNS_2, FORMAT_1: CSV_COLUMNS_1}
# A spreadsheet runs a cell that starts with one of these as a formula (CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def evidence_name(sha: str, kind: str) -> str:
    return f"{EVIDENCE_DIR}/{sha}.{EXTENSIONS.get(kind, 'bin')}"


def csv_header(columns: tuple[str, ...] = CSV_COLUMNS) -> bytes:
    return _csv_line(columns)


def csv_row(
    doc: dict[str, Any], seq: int, digest: str, columns: tuple[str, ...] = CSV_COLUMNS
) -> bytes:
    """One CSV line derived from a hashed document; verify re-derives it byte for byte."""
    evidence = _object(doc.get("evidence"))
    env = _object(doc.get("env"))
    values: dict[str, Any] = {name: doc.get(name) for name in columns}
    values.update({kind: evidence.get(kind) for kind in CSV_EVIDENCE})
    values.update(seq=seq, hash=digest, simulated=env.get("simulated", False))
    return _csv_line(tuple(_cell(values[name]) for name in columns))


def _object(value: Any) -> dict[str, Any]:
    """A crafted line may put anything where an object belongs: read that as empty."""
    return value if isinstance(value, dict) else {}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = value if isinstance(value, str) else json.dumps(value)
    if text.startswith(_FORMULA_START):
        return "'" + text  # shown as text, never evaluated
    return text


def _csv_line(cells: Iterable[str]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(list(cells))
    return buffer.getvalue().encode("utf-8")


def sums_text(entries: dict[str, str]) -> bytes:
    """`sha256sum` format: "<hex>  <path>" per line, sorted by path."""
    return "".join(f"{sha}  {path}\n" for path, sha in sorted(entries.items())).encode()


README_TEXT = """\
LOT DE PREUVES — prefecture-watchdog
====================================

Ce lot contient des observations automatisées de sites de prise de rendez-vous en
préfecture, les pièces capturées (copies d'écran, pages HTML) et un rapport. Chaque fichier
est identifié par son empreinte SHA-256 : la moindre modification d'un fichier change son
empreinte.

Comment vérifier ce lot
-----------------------
1. Avec le logiciel : « watchdog verify {name} ». Il contrôle chaque fichier, la chaîne
   des observations et la cohérence du tableau CSV, sans rien extraire sur le disque, et
   nomme le premier fichier altéré.
2. Sans le logiciel : décompressez le lot, puis dans le dossier obtenu
   - Linux : sha256sum -c SHA256SUMS
   - macOS : shasum -a 256 -c SHA256SUMS
   - Windows (PowerShell) : Get-FileHash -Algorithm SHA256 <fichier>, à comparer à la
     ligne correspondante de SHA256SUMS.
   Chaque fichier doit être déclaré « OK ».
3. L'empreinte de manifest.json (affichée par « watchdog verify ») identifie le lot entier :
   comparez-la à celle que l'émetteur a publiée ou fait horodater.

La chaîne des observations
--------------------------
Chaque ligne de observations.jsonl est le document JSON canonique (RFC 8785) d'une
observation. L'empreinte SHA-256 d'une ligne (sans le saut de ligne final) est l'empreinte
de l'observation ; le champ « prev_hash » de la ligne suivante de la même série doit la
reproduire. Supprimer, modifier ou réordonner une observation rompt la chaîne.
Les pièces citées dans le champ « evidence » se trouvent dans preuves/, sous leur empreinte.
checkpoint.json, s'il est présent, est le dernier point de contrôle signé de l'émetteur : pour
chaque série, le numéro et l'empreinte de sa dernière observation à cet instant ; une
observation du lot portant ce numéro doit avoir cette empreinte.
Horodatages (RFC 3161)
----------------------
Le dossier horodatages/, s'il est présent, contient des jetons d'horodatage RFC 3161 qu'une
autorité d'horodatage (TSA) tierce a délivrés sur les points de contrôle de l'émetteur :
  horodatages/<empreinte>.json  un point de contrôle (JSON canonique) : pour chaque série, le
                                numéro (« seq ») et l'empreinte (« hash ») de sa dernière
                                observation à cet instant ; son SHA-256 est <empreinte> ;
  horodatages/<empreinte>.tsr   la réponse de l'autorité (DER), qui signe cette empreinte et
                                son heure à elle ;
  horodatages/ca-tsa.pem        le ou les certificats de l'autorité de certification de la TSA.
Vérification avec OpenSSL seul, dans le dossier décompressé, pour chaque <empreinte> :
  openssl ts -verify -data horodatages/<empreinte>.json \\
      -in horodatages/<empreinte>.tsr -CAfile horodatages/ca-tsa.pem
doit afficher « Verification: OK ». L'heure certifiée est la ligne « Time stamp » de :
  openssl ts -reply -in horodatages/<empreinte>.tsr -text
Si le certificat de la TSA a expiré depuis, ajoutez à la vérification « -attime N », où N
est cette heure en secondes depuis le 1er janvier 1970 (date -d "<heure>" +%s).
Un certificat fourni dans le lot ne prouve rien à lui seul : comparez l'empreinte affichée par
  openssl x509 -in horodatages/ca-tsa.pem -noout -subject -fingerprint -sha256
à celle que publie l'autorité. Un jeton valide prouve que chaque observation jusqu'aux têtes
qu'il nomme existait à cette heure : l'empreinte d'une tête est le SHA-256 de la ligne de
observations.jsonl de cette série à ce numéro, sans le saut de ligne final (pour la ligne 12 :
sed -n 12p observations.jsonl | tr -d '\\n' | sha256sum). C'est l'heure d'une autorité tierce ;
ce n'est un horodatage électronique qualifié (règlement eIDAS) que si cette autorité est un
prestataire de services de confiance qualifié.

La page HTML telle que servie porte le nom de son empreinte « html_sha256 ». Les valeurs qui
changent à chaque visite (jetons de session, jetons CSRF…) en sont conservées à part :
« html » désigne la page sans elles (identique d'une visite à l'autre) et « html_volatile »
un petit fichier JSON qui les liste avec leur position (en octets) ; les réinsérer redonne
exactement la page, ce que « watchdog verify » contrôle.
Une copie d'écran « rendue ultérieurement » (moteur de requêtes) n'a rien demandé au site :
« resources » est le fichier JSON des feuilles de style, images et polices obtenues pendant
l'observation (adresse, statut, type, contenu en base64 et son empreinte), seules sources
de ce rendu.
Une série « <parcours>.assist » contient les sessions assistées : dans chacune, une personne
a répondu elle-même au captcha, puis notre robot a relu la page des créneaux. Son champ
« assist » nomme les captchas affichés (preuves/<empreinte>.img, l'image telle que servie, son
type dans « media_type », et sa copie encadrée en .png) et l'identifiant et l'empreinte de
chaque lecture, qui doit figurer dans la série du parcours avec cette empreinte.

Les audits d'accessibilité forment des séries à part, nommées « <série>.a11y » : ce ne sont
pas des tentatives de prise de rendez-vous et ils n'entrent dans aucun taux. Chacun porte son
résultat dans le champ « audit » ; « axe » est le fichier JSON des résultats d'axe-core, et les
copies d'écran des pages et des éléments en infraction, que ce champ cite, sont aussi dans
preuves/, sous leur empreinte.

Les vérifications du canal de substitution forment elles aussi des séries à part, nommées
«\u00a0<série>.substitute\u00a0»\u00a0: notre robot y a lu une fois les pages d'information de la
préfecture pour savoir si elles publient un formulaire de contact, une adresse électronique,
une adresse postale ou un numéro de téléphone pour les personnes qui ne peuvent pas prendre
rendez-vous en ligne\u00a0; il n'a rien envoyé ni écrit à personne. Ce ne sont pas des
tentatives de prise de rendez-vous et elles n'entrent dans aucun taux. Le champ
«\u00a0substitute\u00a0» donne, pour chaque canal, son résultat
(«\u00a0published\u00a0»\u00a0: publié, «\u00a0not_found\u00a0»\u00a0: introuvable,
«\u00a0unreachable\u00a0»\u00a0: injoignable) et, pour chaque page lue, son adresse, son statut
HTTP et l'empreinte «\u00a0sha256\u00a0» de la page telle que servie, qui se trouve dans
preuves/<empreinte>.html\u00a0; «\u00a0watchdog verify\u00a0» nomme toute page citée absente
du lot.

EVIDENCE BUNDLE — prefecture-watchdog
-------------------------------------
Automated observations of prefecture booking sites, the evidence captured and a report.
Check it with `watchdog verify {name}`, or unzip it and run `sha256sum -c SHA256SUMS`.
The SHA-256 of manifest.json (printed by `watchdog verify`) identifies the whole bundle:
compare it with the one the issuer published or had timestamped.
Each line of observations.jsonl is an observation's canonical JSON; its SHA-256 is the
observation's hash, which the next line of the same series names as "prev_hash".
checkpoint.json, when present, is the issuer's last signed checkpoint: each series' last seq
and hash at that moment; a line of the bundle at that seq must have that hash.
horodatages/, when present, holds RFC 3161 timestamps that a third-party time-stamping
authority (TSA) issued over the issuer's checkpoints: <digest>.json is a checkpoint's canonical
body (each series' last seq and hash at that moment; its SHA-256 is <digest>), <digest>.tsr the
authority's signed reply over that digest and its own time, ca-tsa.pem the TSA's CA
certificate(s). With OpenSSL alone, in the unzipped folder, for each <digest>:
  openssl ts -verify -data horodatages/<digest>.json \\
      -in horodatages/<digest>.tsr -CAfile horodatages/ca-tsa.pem
must print "Verification: OK"; `openssl ts -reply -in horodatages/<digest>.tsr -text` shows the
time ("Time stamp"); add "-attime N" (that time in seconds since 1970) once the TSA's
certificate has expired. A certificate shipped in the bundle proves nothing by itself: compare
`openssl x509 -in horodatages/ca-tsa.pem -noout -subject -fingerprint -sha256` with the one the
authority publishes. A valid token proves that every observation up to the heads it names
existed at that time (a head's hash is the SHA-256 of that series' line at that seq, without
its newline). It is a third party's time, a qualified electronic timestamp (eIDAS) only when
that authority is a qualified trust service provider.
The page as served is preuves/<html_sha256>.html. "html" names it without its volatile tokens
(session ids, CSRF tokens…) and "html_volatile" a JSON record of them with their byte offsets:
inserting them back rebuilds the page exactly, which `watchdog verify` checks.
A screenshot "rendered later" (request engine) asked the site for nothing: "resources" is the
JSON file of the stylesheets, images and fonts fetched during the observation (URL, status,
type, base64 body and its SHA-256), the rendering's only sources.
A series "<journey>.assist" holds assisted sessions: in each, a person answered the captcha
themselves, then our robot re-read the slot page. Its "assist" field names the captchas shown
(preuves/<sha256>.img, the image as served, its type in "media_type", and its framed copy as
.png) and the id and hash of each read, which the journey's series must hold with that hash.

Accessibility audits are series of their own, named "<series>.a11y": they are no attempt at
booking and enter no rate. Each carries its findings in its "audit" field; "axe" is the JSON
file of axe-core's results, and the captures of the pages and elements in breach that field
names are in preuves/ too, under their SHA-256.

Substitute channel checks are series of their own too, named "<series>.substitute": our robot
read the prefecture's information pages once to learn whether they publish a contact form, an
e-mail address, a postal address or a phone number for people who cannot book online; it sent
nothing and wrote to no one. They are no attempt at booking and enter no rate. The
"substitute" field gives each channel's outcome ("published", "not_found", "unreachable") and,
for each page read, its URL, HTTP status and the "sha256" of the page as served, which is
preuves/<sha256>.html; `watchdog verify` names any page cited that the bundle lacks.
"""


def readme_text(name: str) -> str:
    """The readme of the bundle `name`, its French half with French spacing."""
    return _french_first(README_TEXT.format(name=name), "EVIDENCE BUNDLE —")


def pruned_text(fr: list[str], en: list[str]) -> str:
    """The readme's paragraph on the periods retention pruned (one line each, per language)."""
    if not fr:
        return ""
    text = PRUNED_TEXT.format(fr="\n".join(fr), en="\n".join(en))
    return _french_first(text, "PERIODS PRUNED BY RETENTION")


def _french_first(text: str, english: str) -> str:
    """`text` with French spacing up to the heading `english`: a no-break space inside « »
    and before : ; ! ? (the texts are written with plain spaces, easier to read and wrap)."""
    french, heading, rest = text.partition(english)
    french = french.replace("« ", "«\u00a0").replace(" »", "\u00a0»")
    return re.sub(r" (?=[:;!?](?:\s|$))", "\u00a0", french) + heading + rest


PRUNED_TEXT = """
Périodes supprimées par la politique de conservation
----------------------------------------------------
Avant la constitution de ce lot, la politique de conservation de l'émetteur a supprimé du
registre les observations suivantes de la période du lot ; elles n'y figurent donc pas. Un
résumé signé de chacune (empreintes de la première et de la dernière, nombre par résultat)
en tient lieu dans le registre, et « watchdog verify » l'y contrôle :
{fr}

PERIODS PRUNED BY RETENTION
---------------------------
Before this bundle was made, the issuer's retention policy pruned these observations of the
bundle's period from the record; they are not in it. A signed summary of each (the hashes of
the first and last, counts by outcome) stands in the record, where `watchdog verify` checks it:
{en}
"""
