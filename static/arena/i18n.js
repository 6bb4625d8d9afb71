// The page scripts' words in the voter's language. Django's JavaScript catalogue (/i18n/catalog.js, from
// locale/*/LC_MESSAGES/djangojs.po; a classic script that every page loads before its modules, so the CSP's
// script-src 'self' allows it) defines gettext and ngettext as globals; these wrappers use them, and show the
// English strings as they are written here if the catalogue did not load. `makemessages -d djangojs` finds the
// strings by the calls gettext("…") and ngettext("…", "…", n): write each as one plain string literal.

export function gettext(msgid) {
  return typeof window.gettext === "function" ? window.gettext(msgid) : msgid;
}

export function ngettext(singular, plural, count) {
  if (typeof window.ngettext === "function") return window.ngettext(singular, plural, count);
  return count === 1 ? singular : plural;
}

// "%(name)s" placeholders filled from values, as Django's interpolate(format, values, true) does; the numbers
// are written as they always were (no locale formatting).
export function interpolate(format, values) {
  return format.replace(/%\((\w+)\)s/g, (match, name) => (name in values ? String(values[name]) : match));
}
