#!/usr/bin/env bash
# Starts a real HiveServer2 for tests: Spark's Thrift Server from the PyPI package pyspark, its
# metastore in the local MariaDB or PostgreSQL, its warehouse on local disk (or at WAREHOUSE_URI,
# e.g. hdfs://127.0.0.1:<port>/warehouse on a MiniDFSCluster).
#   usage: start.sh mariadb|postgres
# Environment: LAB (working folder, required), DB (metastore database name, default metastore),
# HS2_AUTH=NOSASL|NONE, HS2_TRANSPORT=binary|http, HS2_PORT, HS2_HTTP_PORT, HS2_MEM,
# PYTHON (the interpreter with pyspark; default python3), WAREHOUSE_URI; with HS2_AUTH=KERBEROS:
# HS2_PRINCIPAL (hive/localhost@REALM), HS2_KEYTAB and KRB5_CONF (e.g. from Hadoop's MiniKdc); the
# HTTP transport's SPNEGO principal is HTTP/ with the same host and realm, from the same keytab. Prints "ready port=<p> pid=<pid>".
# Needs: pyspark, Java 17, libmariadb-java / libpostgresql-jdbc-java (see .ci/run).
# Recipe and its pitfalls: shared/reference/test-hiveserver2.md.
set -euo pipefail
KIND=${1:?usage: $0 mariadb|postgres}
LAB=${LAB:?set LAB to a working folder}
DB=${DB:-metastore}
HS2_AUTH=${HS2_AUTH:-NOSASL}
HS2_TRANSPORT=${HS2_TRANSPORT:-binary}
HS2_PORT=${HS2_PORT:-10000}
HS2_HTTP_PORT=${HS2_HTTP_PORT:-10001}
HS2_MEM=${HS2_MEM:-768m}
PYTHON=${PYTHON:-python3}

SPARK_HOME=$("$PYTHON" -c 'import pyspark,os;print(os.path.dirname(pyspark.__file__))')
export SPARK_HOME

case $KIND in
  mariadb)
    JDBC_JAR=/usr/share/java/mariadb-java-client.jar
    JDBC_URL="jdbc:mariadb://127.0.0.1:3306/$DB?useMysqlMetadata=true"
    JDBC_DRIVER=org.mariadb.jdbc.Driver
    JDBC_USER=hive; JDBC_PASSWORD=hive
    # utf8mb4 fails on SD_PARAMS: the metastore database must be latin1. The JDBC driver needs
    # a password, so the server connects as a user of its own.
    mysql -h 127.0.0.1 -uroot -e "CREATE DATABASE IF NOT EXISTS \`$DB\` CHARACTER SET latin1 COLLATE latin1_bin;
      CREATE USER IF NOT EXISTS 'hive'@'127.0.0.1' IDENTIFIED BY 'hive'; CREATE USER IF NOT EXISTS 'hive'@'localhost' IDENTIFIED BY 'hive';
      GRANT ALL ON \`$DB\`.* TO 'hive'@'127.0.0.1'; GRANT ALL ON \`$DB\`.* TO 'hive'@'localhost';"
    HAVE=$(mysql -h 127.0.0.1 -uroot -N -e "SELECT count(*) FROM information_schema.tables WHERE table_schema='$DB' AND table_name='TBLS'") ;;
  postgres)
    JDBC_JAR=/usr/share/java/postgresql.jar
    JDBC_URL="jdbc:postgresql://127.0.0.1:5432/$DB"
    JDBC_DRIVER=org.postgresql.Driver
    JDBC_USER=postgres; JDBC_PASSWORD=unused
    psql -h 127.0.0.1 -U postgres -d postgres -tAc "SELECT 1 FROM pg_database WHERE datname='$DB'" | grep -q 1 \
      || psql -h 127.0.0.1 -U postgres -d postgres -qc "CREATE DATABASE $DB"
    HAVE=$(psql -h 127.0.0.1 -U postgres -d "$DB" -tAc "SELECT count(*) FROM information_schema.tables WHERE table_name='TBLS'") ;;
  *) echo "usage: $0 mariadb|postgres" >&2; exit 2 ;;
esac
[ -f "$JDBC_JAR" ] || { echo "missing $JDBC_JAR (apt-get install libmariadb-java libpostgresql-jdbc-java)" >&2; exit 1; }

CONF=$LAB/conf
WAREHOUSE=$LAB/warehouse
WAREHOUSE_URI=${WAREHOUSE_URI:-file://$WAREHOUSE}
mkdir -p "$CONF" "$WAREHOUSE" "$LAB/logs" "$LAB/tmp"
cat > "$CONF/hive-site.xml" <<XML
<?xml version="1.0"?>
<configuration>
  <property><name>javax.jdo.option.ConnectionURL</name><value>${JDBC_URL//&/&amp;}</value></property>
  <property><name>javax.jdo.option.ConnectionDriverName</name><value>$JDBC_DRIVER</value></property>
  <property><name>javax.jdo.option.ConnectionUserName</name><value>$JDBC_USER</value></property>
  <property><name>javax.jdo.option.ConnectionPassword</name><value>$JDBC_PASSWORD</value></property>
  <property><name>datanucleus.schema.autoCreateAll</name><value>true</value></property>
  <property><name>hive.metastore.schema.verification</name><value>false</value></property>
  <property><name>hive.metastore.schema.verification.record.version</name><value>true</value></property>
  <property><name>hive.metastore.warehouse.dir</name><value>$WAREHOUSE_URI</value></property>
  <property><name>hive.exec.dynamic.partition.mode</name><value>nonstrict</value></property>
  <property><name>hive.server2.authentication</name><value>$HS2_AUTH</value></property>
  <property><name>hive.server2.transport.mode</name><value>$HS2_TRANSPORT</value></property>
  <property><name>hive.server2.thrift.bind.host</name><value>127.0.0.1</value></property>
  <property><name>hive.server2.thrift.port</name><value>$HS2_PORT</value></property>
  <property><name>hive.server2.thrift.http.port</name><value>$HS2_HTTP_PORT</value></property>
  <property><name>hive.server2.thrift.http.path</name><value>cliservice</value></property>
  <property><name>hive.server2.enable.doAs</name><value>false</value></property>
  <property><name>hive.server2.authentication.kerberos.principal</name><value>${HS2_PRINCIPAL:-}</value></property>
  <property><name>hive.server2.authentication.kerberos.keytab</name><value>${HS2_KEYTAB:-}</value></property>
  <property><name>hive.server2.thrift.sasl.qop</name><value>auth</value></property>
  <property><name>hive.server2.authentication.spnego.principal</name><value>${HS2_PRINCIPAL:+HTTP/${HS2_PRINCIPAL#*/}}</value></property>
  <property><name>hive.server2.authentication.spnego.keytab</name><value>${HS2_KEYTAB:-}</value></property>
</configuration>
XML
KERBEROS_OPTS=""
SPARK_KERBEROS=()
if [ "$HS2_AUTH" = KERBEROS ]; then
  : "${HS2_PRINCIPAL:?HS2_AUTH=KERBEROS needs HS2_PRINCIPAL}" "${HS2_KEYTAB:?and HS2_KEYTAB}" "${KRB5_CONF:?and KRB5_CONF}"
  KERBEROS_OPTS="-Djava.security.krb5.conf=$KRB5_CONF"
  SPARK_KERBEROS=(--conf spark.hadoop.hadoop.security.authentication=kerberos
                  --conf spark.security.credentials.hadoopfs.enabled=false
                  --conf spark.security.credentials.hive.enabled=false)
fi
cat > "$CONF/log4j2.properties" <<'PROPS'
rootLogger.level = warn
rootLogger.appenderRef.stdout.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss.SSS} %p %c{1}: %m%n
PROPS
export SPARK_CONF_DIR=$CONF

# The whole metastore schema first: DataNucleus' lazy creation deadlocks at the first CREATE.
if [ "${HAVE:-0}" = 0 ]; then
  (cd "$CONF" && unzip -o -q "$SPARK_HOME/jars/hive-metastore-2.3.10.jar" package.jdo)
  cat > "$CONF/datanucleus.properties" <<PROPS
javax.jdo.option.ConnectionURL=$JDBC_URL
javax.jdo.option.ConnectionDriverName=$JDBC_DRIVER
javax.jdo.option.ConnectionUserName=$JDBC_USER
javax.jdo.option.ConnectionPassword=$JDBC_PASSWORD
datanucleus.identifierFactory=datanucleus1
datanucleus.rdbms.useLegacyNativeValueStrategy=true
datanucleus.storeManagerType=rdbms
datanucleus.schema.autoCreateAll=true
PROPS
  (cd "$CONF" && java -cp "$SPARK_HOME/jars/*:$JDBC_JAR" org.datanucleus.store.schema.SchemaTool \
      -create -api JDO -props datanucleus.properties package.jdo) > "$LAB/logs/schematool.log" 2>&1 \
    || { echo "SchemaTool failed; see $LAB/logs/schematool.log" >&2; tail -20 "$LAB/logs/schematool.log" >&2; exit 1; }
fi
export SPARK_LOCAL_IP=127.0.0.1
LOG=$LAB/logs/hs2.log
nohup "$SPARK_HOME/bin/spark-submit" \
  --class org.apache.spark.sql.hive.thriftserver.HiveThriftServer2 \
  --name smallfiles-test-hs2 \
  --master 'local[2]' \
  --driver-memory "$HS2_MEM" \
  --driver-class-path "$JDBC_JAR" \
  --jars "$JDBC_JAR" \
  --conf spark.ui.enabled=false \
  --conf spark.sql.catalogImplementation=hive \
  --conf spark.sql.warehouse.dir="$WAREHOUSE_URI" \
  --conf spark.sql.shuffle.partitions=4 \
  --conf spark.local.dir="$LAB/tmp" \
  --conf spark.driver.extraJavaOptions="-Djava.io.tmpdir=$LAB/tmp -Dderby.system.home=$LAB/tmp -XX:+UseSerialGC -XX:TieredStopAtLevel=1 $KERBEROS_OPTS" \
  "${SPARK_KERBEROS[@]}" \
  spark-internal > "$LOG" 2>&1 &
PID=$!
echo $PID > "$LAB/hs2.pid"
if [ "$HS2_TRANSPORT" = http ]; then P=$HS2_HTTP_PORT; else P=$HS2_PORT; fi
for _ in $(seq 1 360); do
  if ! kill -0 $PID 2>/dev/null; then echo "HS2 died; see $LOG" >&2; tail -30 "$LOG" >&2; exit 1; fi
  if (exec 3<>/dev/tcp/127.0.0.1/$P) 2>/dev/null; then
    echo "ready port=$P pid=$PID"
    exit 0
  fi
  sleep 0.5
done
echo "HS2 did not open port $P in 180 s; see $LOG" >&2
exit 1
