#!/usr/bin/env bash
# The translations of the public pages, in locale/<lang>/LC_MESSAGES/ (docs/operations.md, "Languages").
#
#   scripts/translations.sh update [LANG ...]   re-extract the strings into django.po (templates, Python) and
#                                               djangojs.po (static/ scripts), for every language in locale/ or
#                                               the ones named (a new one: zh_Hant, es, ...: the locale name)
#   scripts/translations.sh compile             compile every .po into the .mo Django reads (needs msgfmt)
#
# update keeps every translation already made; a string that is new or changed comes out untranslated (or
# fuzzy: a guess from a similar one, to check). Translate them, compile, and run tests/test_i18n.py, which
# fails on anything untranslated or fuzzy, on a .mo out of step with its .po, and on a string the .po lacks
# (it runs this very update in a copy of the tree). Django, xgettext and msgmerge are needed here only, never
# at run time: the .mo files are committed.
set -euo pipefail

cd "$(dirname "$0")/.."
python=${PYTHON:-.venv/bin/python}
[ -x "$python" ] || python=python3

# Only the project's own sources: never the virtualenv, the vendored libraries, the data or the tests.
ignore=(--ignore=.venv --ignore=static/vendor --ignore=node_modules --ignore=var --ignore=data --ignore=docs
        --ignore=tests --ignore=bench --ignore=scripts --ignore='*.egg-info' --ignore=locale)
options=(--no-obsolete --add-location=file "${ignore[@]}")

case "${1:-}" in
  update)
    shift
    langs=("$@")
    if [ ${#langs[@]} -eq 0 ]; then
      for dir in locale/*/; do langs+=("$(basename "$dir")"); done
    fi
    args=()
    for lang in "${langs[@]}"; do args+=(-l "$lang"); done
    "$python" manage.py makemessages "${args[@]}" "${options[@]}"
    "$python" manage.py makemessages -d djangojs "${args[@]}" "${options[@]}"
    ;;
  compile)
    "$python" manage.py compilemessages --ignore=.venv --ignore=static --ignore=var
    ;;
  *)
    echo "usage: $0 update [LANG ...] | compile" >&2
    exit 2
    ;;
esac
