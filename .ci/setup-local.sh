#!/usr/bin/env bash
# CI entry point: installs and starts what the tests need on a fresh machine, then runs the
# checks and the test command that README.md gives. Safe to run again on a prepared machine.
set -euo pipefail
cd "$(dirname "$0")/.."
# Strict everywhere this script runs: a test whose tool (promtool, Prometheus, Alertmanager,
# Spark, the SMTP server) is missing fails instead of saying SKIPPED. Only an absent ../shared
# may skip.
export CI="${CI:-1}"

started=$SECONDS
log() { printf '\n== %s (at %ds)\n' "$*" "$((SECONDS - started))"; }

apt_updated=0
need_pkg() {
  # need_pkg COMMAND PACKAGE...: installs the packages when COMMAND is missing.
  local cmd=$1; shift
  command -v "$cmd" >/dev/null 2>&1 && return 0
  if [ "$apt_updated" = 0 ]; then apt-get update -qq; apt_updated=1; fi
  log "installing $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

log "packages"
need_pkg promtool prometheus
need_pkg amtool prometheus-alertmanager
need_pkg mysql mariadb-client
need_pkg psql postgresql-client

need_pkg java openjdk-17-jre-headless
# Hadoop's MiniDFSCluster launcher (testkit/minidfs) is compiled with Maven.
need_pkg javac openjdk-17-jdk-headless
need_pkg mvn maven
[ -f /usr/share/java/mariadb-java-client.jar ] || need_pkg __jdbc__ libmariadb-java
[ -f /usr/share/java/postgresql.jar ] || need_pkg __jdbc__ libpostgresql-jdbc-java
# Kerberos (the cargo feature `kerberos`): MIT krb5's GSSAPI headers, and libclang for the
# binding's bindgen; kinit/klist for the ticket-cache tests.
need_pkg krb5-config libkrb5-dev
dpkg -s libclang-dev >/dev/null 2>&1 || need_pkg __libclang__ libclang-dev
need_pkg kinit krb5-user
# A clock ahead of the KDC's, for the clock-skew refusal.
need_pkg faketime faketime
# Test certificates for the TLS tests.
need_pkg openssl openssl

log "Python test helpers"
python3 -c 'import aiosmtpd' 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check aiosmtpd
# Spark's Thrift Server: the real HiveServer2 of the HiveServer2 client's tests.
python3 -c 'import pyspark' 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check pyspark==4.3.0

log "Helm (Go module proxy) and kubernetes-validate (PyPI), for the chart's tests"
export PATH="$HOME/go/bin:$PATH:/usr/local/go/bin"
command -v helm >/dev/null 2>&1 || GOBIN="$HOME/go/bin" go install helm.sh/helm/v3/cmd/helm@v3.22.0
python3 -c 'import kubernetes_validate' 2>/dev/null || python3 -m pip install --quiet --disable-pip-version-check kubernetes-validate==1.37.0

log "Hadoop's MiniDFSCluster launcher (Maven Central)"
mvn -q -B -f testkit/minidfs/pom.xml package dependency:copy-dependencies

log "MariaDB on 127.0.0.1:3306"
if ! mysqladmin -h 127.0.0.1 -uroot ping >/dev/null 2>&1; then
  need_pkg mariadbd mariadb-server
  start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd -- --user=mysql || true
  for _ in $(seq 60); do mysqladmin ping >/dev/null 2>&1 && break; sleep 1; done
  # A fresh install lets root in only through the socket: allow TCP with an empty password.
  mysql -uroot -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA mysql_native_password USING PASSWORD(''); FLUSH PRIVILEGES;" 2>/dev/null || true
  for _ in $(seq 30); do mysqladmin -h 127.0.0.1 -uroot ping >/dev/null 2>&1 && break; sleep 1; done
fi
mysqladmin -h 127.0.0.1 -uroot ping

log "PostgreSQL on 127.0.0.1:5432"
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    need_pkg pg_ctlcluster postgresql
  fi
  ver=$(ls /etc/postgresql | sort -V | tail -n1)
  hba=/etc/postgresql/$ver/main/pg_hba.conf
  # The tests connect as postgres over TCP without a password, as on the prepared machines.
  grep -q '^host all all 127.0.0.1/32 trust' "$hba" || sed -i '1i host all all 127.0.0.1/32 trust' "$hba"
  pg_ctlcluster --skip-systemctl-redirect "$ver" main start || pg_ctlcluster --skip-systemctl-redirect "$ver" main restart
  for _ in $(seq 60); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
psql -h 127.0.0.1 -U postgres -d postgres -qAtc 'select 1' >/dev/null

if [ -d ../shared/fixtures ]; then
  log "shared fixtures found at ../shared"
else
  log "../shared is absent: tests that need it will say SKIPPED"
fi

# Everything is built and tested with Kerberos; the build without it is checked too.
KERBEROS="--features smallfiles-exporter/kerberos,smallfiles-merger/kerberos"

