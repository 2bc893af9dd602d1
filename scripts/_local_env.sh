# Sourced by scripts/run, scripts/serve and scripts/manage: the settings of a local run on
# this machine. The product runs as in production (DEBUG off, so errors show the site's
# pages), with a secret key generated once into var/secret_key, local host names, and plain
# HTTP (no TLS redirect, cookies not marked secure). Anything already exported wins.
mkdir -p var
if [ -z "${DJANGO_SECRET_KEY:-}" ]; then
  if [ ! -s var/secret_key ]; then
    (umask 077 && python -c "import secrets; print(secrets.token_urlsafe(50))" > var/secret_key)
  fi
  DJANGO_SECRET_KEY=$(cat var/secret_key)
fi
export DJANGO_SECRET_KEY
export DJANGO_DEBUG=${DJANGO_DEBUG:-false}
export DJANGO_ALLOWED_HOSTS=${DJANGO_ALLOWED_HOSTS:-localhost,127.0.0.1,[::1]}
export DJANGO_SECURE_SSL_REDIRECT=${DJANGO_SECURE_SSL_REDIRECT:-false}
export DJANGO_SECURE_COOKIES=${DJANGO_SECURE_COOKIES:-false}
export DJANGO_SECURE_HSTS_SECONDS=${DJANGO_SECURE_HSTS_SECONDS:-0}
