"""Page chrome of each platform: headers, menus, footers and cookie banners.

The chrome is deliberately busy, as the real sites were: a header "Rechercher" submit button, a
menu link "Prendre rendez-vous" that leads elsewhere, footer links and a cookie banner whose
buttons share classes. A probe has to aim at the booking form, not at the first button it finds.
"""

from __future__ import annotations

import json
from html import escape

from aiohttp import web

from watchdog.simulator.faults import SIM_MARK


def esc(text: str) -> str:
    """Escape element content; apostrophes stay as typed, as the sites printed them."""
    return escape(text, quote=False)


BANNER_COOKIES = {
    "tarteaucitron": "tarteaucitron",
    "tarteaucitron_center": "tarteaucitron",
    "tarteaucitron_late": "tarteaucitron",
    "simple": "cookies_consent",
    "paris": "cookies_consent",
    "accepter": "cookies_consent",
}

_ACCEPT_JS = """<script>
function simAcceptCookies(name, root) {
  document.cookie = name + "=" + encodeURIComponent("!all=true") + "; path=/; max-age=31536000";
  var el = document.getElementById(root); if (el) { el.parentNode.removeChild(el); }
}
</script>"""


def cookie_banner(kind: str | None, request: web.Request) -> str:
    """The consent banner of `kind`, unless this browser already answered it."""
    if kind is None or kind == "none" or BANNER_COOKIES[kind] in request.cookies:
        return ""
    if kind == "tarteaucitron":
        return _ACCEPT_JS + _TARTEAUCITRON
    if kind == "tarteaucitron_center":
        return _ACCEPT_JS + _TARTEAUCITRON_CENTER
    if kind == "tarteaucitron_late":  # the library shows its banner once its script has run
        return _ACCEPT_JS + _shown_later(_TARTEAUCITRON_CENTER, 800)
    if kind == "paris":
        return _ACCEPT_JS + _PARIS_BANNER
    if kind == "accepter":
        return _ACCEPT_JS + _ACCEPTER_BANNER
    return _ACCEPT_JS + _SIMPLE_BANNER


def _shown_later(banner: str, delay_ms: int) -> str:
    return (
        '<script>window.addEventListener("load", function () { setTimeout(function () {'
        f" document.body.insertAdjacentHTML('beforeend', {json.dumps(banner)}); }},"
        f" {delay_ms}); }});</script>"
    )


# tarteaucitron's centred form ("orientation: middle"): a backdrop over the whole page that
# takes every click until one of the banner's buttons is pressed.
_TARTEAUCITRON_CENTER = """
<div id="tarteaucitronRoot" class="tarteaucitronBeforeVisible">
 <div id="tarteaucitronBack" style="display:block;opacity:0.7;position:fixed;inset:0;
  background:#333;z-index:2147483640"></div>
 <div id="tarteaucitronAlertBig" class="tarteaucitronAlertBigMiddle" role="dialog"
  aria-modal="true" aria-label="Gestion des cookies"
  style="position:fixed;top:30%;left:20%;right:20%;background:#333;color:#fff;padding:24px;
  z-index:2147483645">
  <span id="tarteaucitronDisclaimerAlert">Ce site utilise des cookies et vous donne le contrôle
   sur ceux que vous souhaitez activer</span>
  <button type="button" class="tarteaucitronCTAButton tarteaucitronAllow"
   id="tarteaucitronPersonalize2"
   onclick="simAcceptCookies('tarteaucitron','tarteaucitronRoot')">✓ Tout accepter</button>
  <button type="button" class="tarteaucitronCTAButton tarteaucitronDeny"
   id="tarteaucitronAllDenied2"
   onclick="simAcceptCookies('tarteaucitron','tarteaucitronRoot')">✗ Tout refuser</button>
  <button type="button" id="tarteaucitronCloseAlert">Personnaliser</button>
 </div>
</div>"""

# The Préfecture de police's banner: `#cookies-banner` with « Accepter ».
_PARIS_BANNER = """
<div id="cookies-banner" role="dialog" style="position:fixed;inset:0;background:rgba(0,0,0,.5);
 z-index:99;display:flex;align-items:flex-end">
 <div style="background:#fff;padding:16px;width:100%">
 <p>Nous utilisons des cookies pour mesurer l'audience de ce site.</p>
 <button type="button" onclick="simAcceptCookies('cookies_consent','cookies-banner')"
  >Accepter</button></div>
</div>"""

# A link calling the site's own `accepter()`.
_ACCEPTER_BANNER = """
<script>function accepter() { simAcceptCookies('cookies_consent', 'bandeau-cookies'); }</script>
<div id="bandeau-cookies" style="position:fixed;inset:0;background:rgba(0,0,0,.5);z-index:99">
 <p style="background:#fff;padding:16px;margin:0">Ce site utilise des cookies.
 <a href="#" onclick="javascript:accepter()">Accepter</a></p>
</div>"""


_TARTEAUCITRON = """
<div id="tarteaucitronRoot" class="tarteaucitronBeforeVisible">
 <div id="tarteaucitronAlertBig" role="dialog" aria-label="Gestion des cookies"
  style="position:fixed;bottom:0;left:0;right:0;background:#333;color:#fff;padding:12px;z-index:99">
  <span id="tarteaucitronDisclaimerAlert">Ce site utilise des cookies et vous donne le contrôle
   sur ceux que vous souhaitez activer</span>
  <button type="button" class="tarteaucitronCTAButton tarteaucitronAllow"
   id="tarteaucitronPersonalize2"
   onclick="simAcceptCookies('tarteaucitron','tarteaucitronRoot')">✓ Accepter</button>
  <button type="button" class="tarteaucitronCTAButton tarteaucitronDeny"
   id="tarteaucitronAllDenied2"
   onclick="simAcceptCookies('tarteaucitron','tarteaucitronRoot')">✗ Refuser</button>
  <button type="button" id="tarteaucitronCloseAlert">Personnaliser</button>
 </div>
</div>"""

_SIMPLE_BANNER = """
<div id="cookies-banner" class="cookies-banner" role="dialog"
 style="position:fixed;bottom:0;left:0;right:0;background:#fff;border-top:2px solid #000091;
 padding:12px;z-index:99">
 <p>Nous utilisons des cookies pour mesurer l'audience de ce site.</p>
 <button type="button" class="fr-btn"
  onclick="simAcceptCookies('cookies_consent','cookies-banner')">Accepter</button>
 <button type="button" class="fr-btn fr-btn--secondary"
  onclick="simAcceptCookies('cookies_consent','cookies-banner')">Tout refuser</button>
 <button type="button" class="fr-btn fr-btn--tertiary">Personnaliser</button>
</div>"""


def _doc(title: str, head: str, body: str, lang: str = "fr") -> str:
    return (
        f'<!DOCTYPE html>\n<html lang="{lang}">\n<head>\n<meta charset="utf-8">\n'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{esc(title)}</title>\n{head}\n</head>\n{body}\n</html>\n"
    )


# --- legacy eZ Publish prefecture site -------------------------------------------------------

_LEGACY_CSS = """<style>
body{font-family:Arial,Helvetica,sans-serif;margin:0;color:#222;background:#f2f2f2}
#page{max-width:980px;margin:0 auto;background:#fff}
#header{display:flex;align-items:center;gap:24px;padding:12px 20px;border-bottom:4px solid #0a3d91}
.marianne{font-weight:bold;line-height:1.1;text-transform:uppercase}
.site-title{font-size:1.4em;color:#0a3d91;margin:0}
#recherche{margin-left:auto}
#menu ul{list-style:none;margin:0;padding:0;display:flex;background:#0a3d91}
#menu li{position:relative} #menu a{display:block;color:#fff;padding:10px 14px;text-decoration:none}
#menu li ul{display:none} #menu li:hover ul{display:block;position:absolute;background:#0a3d91}
#contenu{padding:16px 20px;display:flex;gap:20px} #main{flex:3} #sidebar{flex:1;font-size:.9em}
.etapes{list-style:none;display:flex;padding:0;margin:0 0 16px;flex-wrap:wrap}
.etapes li{padding:6px 10px;background:#ddd;margin-right:4px}
.etapes li.active{background:#f60;color:#fff;font-weight:bold}
.Bbutton{background:#0a3d91;color:#fff;border:0;padding:8px 14px}
table.calendrier{border-collapse:collapse}
table.calendrier td,table.calendrier th{border:1px solid #ccc;padding:4px 8px}
td.free{background:#cfc} td.full{background:#eee;color:#888}
#footer{padding:16px 20px;background:#333;color:#ccc;font-size:.85em} #footer a{color:#ccc}
</style>"""


def legacy_page(*, title: str, site_name: str, content: str, banner: str) -> str:
    """A page of a 2015–2023 prefecture site built on eZ Publish."""
    site = esc(site_name)
    body = f"""<body class="booking">
{SIM_MARK}
<div id="page">
<div id="header">
 <a href="/" class="logo" title="Accueil - {site}">
  <span class="marianne">République<br>Française</span></a>
 <div><p class="site-title">{site}</p><p class="devise">Liberté Égalité Fraternité</p></div>
 <form id="recherche" action="/Recherche" method="get">
  <label for="SearchText" class="hidden">Rechercher dans le site</label>
  <input type="text" id="SearchText" name="SearchText" placeholder="Rechercher">
  <button type="submit" class="btn-recherche">Rechercher</button>
 </form>
</div>
<div id="menu"><ul>
 <li><a href="/Actualites">Actualités</a></li>
 <li><a href="/Politiques-publiques">Politiques publiques</a></li>
 <li><a href="/Demarches-administratives">Démarches administratives</a><ul>
  <li><a href="/Demarches-administratives/Prendre-rendez-vous">Prendre rendez-vous</a></li>
  <li><a href="/Demarches-administratives/Titres-de-sejour">Titres de séjour</a></li>
  <li><a href="/Demarches-administratives/Naturalisation">Naturalisation</a></li></ul></li>
 <li><a href="/Services-de-l-Etat">Services de l'État</a></li>
 <li><a href="/Publications">Publications</a></li>
 <li><a href="/Contact">Nous contacter</a></li>
</ul></div>
<p id="fil-ariane"><a href="/">Accueil</a> &gt; <a href="/Demarches-administratives">Démarches
 administratives</a> &gt; Prise de rendez-vous</p>
<div id="contenu">
<div id="main">
{content}
</div>
<div id="sidebar"><h3>Dans cette rubrique</h3><ul>
 <li><a href="/Demarches-administratives/Prendre-rendez-vous">Prendre rendez-vous</a></li>
 <li><a href="/Demarches-administratives/Etrangers">Accueil des étrangers</a></li>
 <li><a href="/Demarches-administratives/Horaires">Horaires d'ouverture</a></li></ul>
 <p><button type="button" class="btn-imprimer" onclick="window.print()">Imprimer</button></p>
</div>
</div>
<div id="footer"><ul class="liens">
 <li><a href="/Plan-du-site">Plan du site</a></li>
 <li><a href="/Mentions-legales">Mentions légales</a></li>
 <li><a href="/Accessibilite">Accessibilité</a></li>
 <li><a href="/Donnees-personnelles">Données personnelles</a></li>
 <li><a href="/Gestion-des-cookies">Gestion des cookies</a></li>
 <li><a href="https://www.legifrance.gouv.fr">legifrance.gouv.fr</a></li>
 <li><a href="https://www.service-public.fr">service-public.fr</a></li>
 <li><a href="https://www.gouvernement.fr">gouvernement.fr</a></li></ul>
 <p>© {site} - Prise de rendez-vous</p></div>
</div>
{banner}
</body>"""
    return _doc(f"{title} - {site_name}", _LEGACY_CSS, body)


# --- RDV-Préfecture: Vue 3 + Quasar + DSFR ---------------------------------------------------

_RDV_CSS = """<style>
body{font-family:Marianne,Arial,sans-serif;margin:0;color:#161616}
.fr-header{border-bottom:1px solid #ddd;padding:8px 24px;
 display:flex;align-items:center;gap:24px}
.fr-logo{font-weight:bold;text-transform:uppercase;line-height:1.1}
.fr-header__service-title{font-size:1.2em;font-weight:bold;margin:0}
.fr-header__tools{margin-left:auto} .fr-btns-group{list-style:none;display:flex;gap:8px}
.fr-nav{border-bottom:1px solid #ddd;padding:0 24px}
.fr-nav__list{list-style:none;display:flex;gap:16px;padding:0;margin:0}
.fr-nav__link{display:block;padding:12px 0;color:#161616;text-decoration:none}
main{padding:24px;max-width:1100px;margin:0 auto}
.q-btn{display:inline-block;padding:8px 16px;border:1px solid #000091;
 text-decoration:none;cursor:pointer}
.bg-primary{background:#000091;color:#fff} .text-primary{color:#000091}
.fr-btn{background:#000091;color:#fff;border:0;padding:8px 16px;cursor:pointer}
.fr-btn--tertiary-no-outline{background:none;color:#000091}
.celulleColumn{flex:1;min-width:110px} .cellules{list-style:none;padding:0}
.radio-card{border:1px solid #ddd;margin:4px;padding:6px} .radio-card.even{background:#f6f6f6}
.row{display:flex} .justify-center{justify-content:center} .text-italic{font-style:italic}
.fr-footer{border-top:2px solid #000091;padding:24px;font-size:.85em;margin-top:48px}
</style>"""


def rdv_page(*, title: str, content: str, banner: str, scripts: str = "") -> str:
    """A page of www.rdv-prefecture.interieur.gouv.fr (Quasar app mounted in #q-app)."""
    body = f"""<body class="desktop no-touch body--light">
{SIM_MARK}
<div id="q-app"><div class="q-layout q-layout--standard">
<header role="banner" class="fr-header">
 <div class="fr-header__brand"><p class="fr-logo">République<br>Française</p></div>
 <div class="fr-header__service"><a href="/rdvpref/" title="Accueil - Rendez-vous en préfecture">
  <p class="fr-header__service-title">Rendez-vous en préfecture</p></a>
  <p class="fr-header__service-tagline">Ministère de l'Intérieur</p></div>
 <div class="fr-header__tools"><ul class="fr-btns-group">
  <li><a class="fr-btn fr-icon-account-line" href="/rdvpref/login/">Mon espace</a></li>
  <li><form action="/rdvpref/recherche" method="get" role="search">
   <input class="fr-input" name="q" placeholder="Rechercher">
   <button type="submit" class="fr-btn" title="Rechercher">Rechercher</button></form></li>
  </ul></div>
</header>
<nav class="fr-nav" role="navigation" aria-label="Menu principal"><ul class="fr-nav__list">
 <li><a class="fr-nav__link" href="/rdvpref/">Accueil</a></li>
 <li><a class="fr-nav__link" href="/rdvpref/demarches/">Prendre rendez-vous</a></li>
 <li><a class="fr-nav__link" href="/rdvpref/login/">Gérer mes rendez-vous</a></li>
 <li><a class="fr-nav__link" href="/rdvpref/aide/">Aide</a></li></ul></nav>
<main role="main" id="contenu" class="q-page-container">
{content}
</main>
<footer class="fr-footer" role="contentinfo">
 <p>Rendez-vous en préfecture — un service du ministère de l'Intérieur</p>
 <ul class="fr-footer__content-list">
  <li><a href="https://www.legifrance.gouv.fr">legifrance.gouv.fr</a></li>
  <li><a href="https://www.gouvernement.fr">gouvernement.fr</a></li>
  <li><a href="https://www.service-public.fr">service-public.fr</a></li>
  <li><a href="https://www.data.gouv.fr">data.gouv.fr</a></li></ul>
 <ul class="fr-footer__bottom-list">
  <li><a href="/rdvpref/plan-du-site">Plan du site</a></li>
  <li><a href="/rdvpref/accessibilite">Accessibilité : non conforme</a></li>
  <li><a href="/rdvpref/mentions-legales">Mentions légales</a></li>
  <li><a href="/rdvpref/donnees-personnelles">Données personnelles</a></li>
  <li><button type="button" class="fr-footer__bottom-link">Gestion des cookies</button></li></ul>
</footer>
</div></div>
{banner}
{scripts}
</body>"""
    return _doc(f"{title} - Rendez-vous en préfecture", _RDV_CSS, body)


# --- eAppointment: Java/JSP + Bootstrap 3 ----------------------------------------------------

_EAPP_CSS = """<style>
body{font-family:"Helvetica Neue",Arial,sans-serif;margin:0;color:#333}
.navbar{background:#1f3b73;color:#fff;padding:10px 20px;display:flex;align-items:center;gap:20px}
.navbar-brand{font-size:1.2em;font-weight:bold} .navbar a{color:#fff}
.container{max-width:1000px;margin:0 auto;padding:16px}
.btn{padding:6px 12px;border:1px solid #ccc;border-radius:4px;background:#fff;cursor:pointer}
.btn-primary{background:#337ab7;border-color:#2e6da4;color:#fff}
.panel{border:1px solid #ddd;border-radius:4px} .panel-heading{background:#f5f5f5;padding:8px}
.panel-body{padding:8px} .row{display:flex;gap:16px} .col-md-8{flex:2} .col-md-4{flex:1}
.ui-datepicker-group{display:inline-block;vertical-align:top;margin-right:12px}
.ui-state-disabled{color:#bbb} a.ui-state-default{background:#dff0d8;padding:2px 4px}
.footer{border-top:1px solid #ddd;padding:12px 20px;font-size:.85em;color:#777}
</style>"""


def eapp_page(*, title: str, content: str, scripts: str = "") -> str:
    """A page of rdv-etrangers-94.interieur.gouv.fr/eAppointmentpref94 (Bootstrap 3)."""
    body = f"""<body>
{SIM_MARK}
<div class="navbar navbar-default" role="navigation">
 <span class="marianne">République Française</span>
 <span class="navbar-brand">Préfecture du Val de Marne – SERVICES EN LIGNE</span>
 <ul class="nav navbar-nav"><li><a href="http://www.val-de-marne.gouv.fr">Accueil</a></li>
  <li><a href="/eAppointmentpref94/element/jsp/help.jsp">Aide</a></li>
  <li><a href="http://www.val-de-marne.gouv.fr/Contactez-nous">Contact</a></li></ul>
 <form class="navbar-form" action="http://www.val-de-marne.gouv.fr/Recherche" method="get">
  <input type="text" name="SearchText" class="form-control" placeholder="Rechercher">
  <button type="submit" class="btn btn-default">Rechercher</button></form>
</div>
<div class="container">
<h1 class="page-header">Prise de rendez-vous pour le service aux étrangers</h1>
{content}
</div>
<div class="footer">© Préfecture du Val-de-Marne — <a href="/eAppointmentpref94/element/jsp/cgu.jsp"
 >Conditions générales d'utilisation</a> — <a href="http://www.val-de-marne.gouv.fr/Mentions-legales"
 >Mentions légales</a></div>
<script>
if (!navigator.cookieEnabled) {{
  alert("Vous devez activer les cookies pour pouvoir utiliser " +
    "l'application de prise de rendez-vous");
}}
</script>
{scripts}
</body>"""
    return _doc(f"{title} - Prise de rendez-vous", _EAPP_CSS, body)


# --- ANEF: Angular + PrimeNG single-page app -------------------------------------------------

ANEF_TITLE = "Administration numérique pour les étrangers en France"
_ANEF_CSS = """<style>
body{font-family:Marianne,Arial,sans-serif;margin:0;color:#1e1e1e}
.anef-header{display:flex;align-items:center;gap:24px;padding:12px 24px;
 border-bottom:1px solid #ddd}
.logo-rf{font-weight:bold;text-transform:uppercase;line-height:1.1} .app-title{font-weight:bold}
.p-tabmenu ul{list-style:none;display:flex;gap:16px;margin:0;padding:0}
.header-actions{margin-left:auto} main{padding:24px;max-width:1000px;margin:0 auto}
.p-button{display:inline-block;padding:8px 16px;border:1px solid #000091;color:#000091;
 text-decoration:none;margin-right:8px} .p-button-primary{background:#000091;color:#fff}
.franceconnect-button{background:#000091;color:#fff;border:0;padding:10px 16px}
.anef-footer{border-top:2px solid #000091;padding:16px 24px;font-size:.85em}
</style>"""
# The shell renders client-side after asking the API whether the service is up, like the real
# Angular app: a probe must wait for <app-root> to fill, not read the first HTML it gets.
_ANEF_JS = """<script>
(function () {
  var root = document.querySelector("app-root");
  var api = %(api)s, login = %(login)s, title = %(title)s;
  root.innerHTML = '<div class="app-loading"><p>Chargement en cours…</p></div>';
  function header() {
    return '<header class="anef-header" _ngcontent-ng-c1>' +
      '<div class="logo-rf">République<br>Française</div>' +
      '<p class="app-title">' + title + '</p>' +
      '<nav class="p-tabmenu"><ul><li><a href="#/">Accueil</a></li>' +
      '<li><a href="#/demarches">Vos démarches</a></li>' +
      '<li><a href="#/aide">Aide</a></li><li><a href="#/contact">Contact</a></li></ul></nav>' +
      '<div class="header-actions"><a class="p-button" href="' + login + '">Se connecter</a>' +
      '</div></header>';
  }
  function footer() {
    return '<footer class="anef-footer"><a href="#/mentions-legales">Mentions légales</a> · ' +
      '<a href="#/accessibilite">Accessibilité</a> · ' +
      '<a href="#/cookies">Gestion des cookies</a></footer>';
  }
  function home() {
    root.innerHTML = header() + '<main><h1>' + title + '</h1>' +
      '<p>Effectuez en ligne vos démarches de titre de séjour et de naturalisation.</p>' +
      '<div class="connexion"><a class="p-button p-button-primary" id="btn-connexion" href="' +
      login + '">Se connecter</a>' +
      '<button type="button" class="franceconnect-button" id="btn-franceconnect">' +
      '<span class="franceconnect-login">S&#39;identifier avec</span> ' +
      '<span class="franceconnect-brand">FranceConnect</span></button>' +
      '<a class="p-button" href="#/espace-personnel/connexion-inscription">Créer mon compte</a>' +
      '</div><section class="demarches"><h2>Vos démarches</h2><ul><li>Titre de séjour</li>' +
      '<li>Naturalisation</li><li>Document de circulation</li></ul></section></main>' + footer();
    document.getElementById("btn-franceconnect").addEventListener("click", function () {
      window.location.href = login + "&kc_idp_hint=franceconnect";
    });
  }
  function failure() {
    root.innerHTML = header() + '<main><div class="app-error"><h1>Une erreur est survenue</h1>' +
      '<p>Une erreur technique est survenue. Veuillez réessayer ultérieurement.</p></div>' +
      '</main>' + footer();
  }
  var headers = {Accept: "application/json"};
  fetch(api + "/api/anf/status", {credentials: "same-origin", headers: headers})
    .then(function (r) { if (!r.ok) { throw new Error(String(r.status)); } return r.json(); })
    .then(home, failure);
})();
</script>"""


def anef_shell(*, base_href: str, api_base: str, login_url: str) -> str:
    """The index.html of /particuliers/: an empty <app-root> filled by script."""
    values = {"api": api_base, "login": login_url, "title": ANEF_TITLE}
    script = _ANEF_JS % {k: json.dumps(v, ensure_ascii=False) for k, v in values.items()}
    body = f"""<body>
{SIM_MARK}
<app-root ng-version="15.2.10"></app-root>
<noscript>Veuillez activer JavaScript pour utiliser ce site.</noscript>
{script}
</body>"""
    head = f'<base href="{escape(base_href)}">\n{_ANEF_CSS}'
    return _doc(f"ANEF - {ANEF_TITLE}", head, body)


def anef_maintenance() -> str:
    body = f"""<body>
{SIM_MARK}
<div class="maintenance" style="max-width:40em;margin:4em auto;font-family:Arial,sans-serif">
<p class="logo-rf">République Française</p>
<h1>Site en maintenance</h1>
<p>Le site {ANEF_TITLE} est actuellement en maintenance. Nous vous prions de nous excuser
pour la gêne occasionnée.</p>
</div>
</body>"""
    return _doc("ANEF - Maintenance", "", body)
