package smallfiles;

import java.io.BufferedReader;
import java.io.File;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;

import org.apache.hadoop.conf.Configuration;
import org.apache.hadoop.fs.FileSystem;
import org.apache.hadoop.fs.Path;
import org.apache.hadoop.hdfs.HdfsConfiguration;
import org.apache.hadoop.hdfs.MiniDFSCluster;
import org.apache.hadoop.hdfs.MiniDFSNNTopology;
import org.apache.hadoop.security.token.Token;

/**
 * Hadoop's own NameNode (and one DataNode) for the tests of hive-smallfiles.
 *
 * Usage: MiniHadoop --base-dir DIR [--ha] [--secure [--ticket-lifetime-secs N]]
 *
 * --secure starts Hadoop's MiniKdc first and the cluster Kerberized: Kerberos RPC, SPNEGO on the
 * NameNodes' HTTP servers (principal HTTP/localhost), and `hadoop.security.authentication`
 * kerberos. The READY line then names the realm, the KDC's krb5.conf, a client keytab for
 * `smallfiles@REALM`, a keytab of another principal (a wrong keytab for `smallfiles`), and the
 * services' keytab (hdfs/, HTTP/ and hive/localhost, for a Kerberized HiveServer2); HTTP
 * addresses are given as http://localhost:PORT so that the SPNEGO principal matches.
 *
 * When the cluster is up it prints one line, {@code READY {json}}, with the NameNodes' RPC and
 * HTTP addresses (in HA mode the first NameNode is the standby), then reads commands from
 * stdin, one per line, fields separated by tabs (paths may hold spaces), and answers each with
 * one line, {@code OK [value]} or {@code ERR message}:
 *
 *   write PATH SIZE        a file of SIZE bytes written through Hadoop's client (parents made)
 *   mkdir PATH
 *   exists PATH            OK true | OK false
 *   files PATH             OK N: data files below PATH (names starting with _ or . are not data)
 *   times PATH MTIME_MS    sets the modification time
 *   failover               the standby becomes active while the active steps down; OK INDEX
 *   active                 OK INDEX of the active NameNode
 *   token RENEWER          a delegation token, OK URL-STRING
 *
 * End of input (the parent went away) or {@code quit} stops the cluster and the process.
 */
public final class MiniHadoop {
    public static void main(String[] args) throws Exception {
        String baseDir = null;
        boolean ha = false;
        boolean secure = false;
        long ticketLifetimeSecs = 3600;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--base-dir": baseDir = args[++i]; break;
                case "--ha": ha = true; break;
                case "--secure": secure = true; break;
                case "--ticket-lifetime-secs": ticketLifetimeSecs = Long.parseLong(args[++i]); break;
                default: throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        if (baseDir == null) {
            throw new IllegalArgumentException("--base-dir is required");
        }
        // Hadoop's own chatter goes to stderr; stdout carries only the protocol.
        PrintStream out = new PrintStream(new java.io.FileOutputStream(java.io.FileDescriptor.out), true, "UTF-8");
        System.setOut(System.err);

        Configuration conf = new HdfsConfiguration();
        conf.set(MiniDFSCluster.HDFS_MINIDFS_BASEDIR, new File(baseDir).getAbsolutePath());
        conf.set("dfs.replication", "1");
        conf.set("dfs.blocksize", "1048576");
        conf.set("dfs.namenode.fs-limits.min-block-size", "1024");
        // Tokens in an insecure cluster too, so that the delegation-token path can be tried.
        conf.set("dfs.namenode.delegation.token.always-use", "true");
        conf.set("hadoop.http.staticuser.user", System.getProperty("user.name"));
        conf.set("dfs.ha.tail-edits.period", "1s");

        String secureJson = "";
        if (secure) {
            File kdcDir = new File(baseDir, "kdc");
            kdcDir.mkdirs();
            java.util.Properties kdcConf = org.apache.hadoop.minikdc.MiniKdc.createConf();
            // Kerby takes these in seconds.
            kdcConf.setProperty(org.apache.hadoop.minikdc.MiniKdc.MAX_TICKET_LIFETIME,
                Long.toString(ticketLifetimeSecs));
            kdcConf.setProperty(org.apache.hadoop.minikdc.MiniKdc.MAX_RENEWABLE_LIFETIME,
                Long.toString(ticketLifetimeSecs));
            org.apache.hadoop.minikdc.MiniKdc kdc = new org.apache.hadoop.minikdc.MiniKdc(kdcConf, kdcDir);
            kdc.start();
            Runtime.getRuntime().addShutdownHook(new Thread(kdc::stop));
            String realm = kdc.getRealm();
            File serviceKeytab = new File(kdcDir, "service.keytab");
            kdc.createPrincipal(serviceKeytab, "hdfs/localhost", "HTTP/localhost", "hive/localhost");
            File clientKeytab = new File(kdcDir, "smallfiles.keytab");
            kdc.createPrincipal(clientKeytab, "smallfiles");
            File otherKeytab = new File(kdcDir, "other.keytab");
            kdc.createPrincipal(otherKeytab, "other");
            String sk = serviceKeytab.getAbsolutePath();
            conf.set("hadoop.security.authentication", "kerberos");
            conf.set("hadoop.security.authorization", "true");
            conf.set("hadoop.rpc.protection", "authentication");
            conf.set("dfs.data.transfer.protection", "authentication");
            conf.set("dfs.block.access.token.enable", "true");
            conf.set("ignore.secure.ports.for.testing", "true");
            conf.set("dfs.http.policy", "HTTP_ONLY");
            conf.set("dfs.namenode.keytab.file", sk);
            conf.set("dfs.namenode.kerberos.principal", "hdfs/localhost@" + realm);
            conf.set("dfs.namenode.kerberos.internal.spnego.principal", "HTTP/localhost@" + realm);
            conf.set("dfs.datanode.keytab.file", sk);
            conf.set("dfs.datanode.kerberos.principal", "hdfs/localhost@" + realm);
            conf.set("dfs.web.authentication.kerberos.principal", "HTTP/localhost@" + realm);
            conf.set("dfs.web.authentication.kerberos.keytab", sk);
            conf.set("hadoop.http.authentication.type", "kerberos");
            conf.set("hadoop.http.authentication.kerberos.principal", "HTTP/localhost@" + realm);
            conf.set("hadoop.http.authentication.kerberos.keytab", sk);
            // The hadoop.auth cookie lives as long as a ticket, so that a long test sees both
            // expire and be replaced.
            conf.set("hadoop.http.authentication.token.validity", Long.toString(ticketLifetimeSecs));
            // `other` is the cluster's administrator (the NameNode hands its fsimage to admins);
            // `smallfiles` is an ordinary user.
            conf.set("dfs.cluster.administrators", "other");
            org.apache.hadoop.security.UserGroupInformation.setConfiguration(conf);
            org.apache.hadoop.security.UserGroupInformation.loginUserFromKeytab("hdfs/localhost@" + realm, sk);
            secureJson = ",\"realm\":\"" + realm + "\",\"krb5_conf\":\"" + kdc.getKrb5conf().getAbsolutePath()
                + "\",\"client_principal\":\"smallfiles@" + realm + "\",\"client_keytab\":\""
                + clientKeytab.getAbsolutePath() + "\",\"other_keytab\":\"" + otherKeytab.getAbsolutePath()
                + "\",\"service_keytab\":\"" + sk + "\"";
        }

        MiniDFSCluster.Builder builder = new MiniDFSCluster.Builder(conf).numDataNodes(1);
        if (ha) {
            builder.nnTopology(MiniDFSNNTopology.simpleHATopology(2));
        }
        MiniDFSCluster cluster = builder.build();
        Runtime.getRuntime().addShutdownHook(new Thread(cluster::shutdown));
        cluster.waitActive();
        int active = 0;
        if (ha) {
            // The first NameNode a client is configured with is the standby: clients must
            // find the active one.
            cluster.transitionToActive(1);
            active = 1;
        }
        cluster.waitActive();

        int n = ha ? 2 : 1;
        List<String> rpc = new ArrayList<>();
        List<String> http = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            InetSocketAddress r = cluster.getNameNode(i).getNameNodeAddress();
            InetSocketAddress h = cluster.getNameNode(i).getHttpAddress();
            rpc.add("\"127.0.0.1:" + r.getPort() + "\"");
            http.add("\"http://" + (secure ? "localhost" : "127.0.0.1") + ":" + h.getPort() + "\"");
        }
        out.println("READY {\"rpc\":" + rpc + ",\"http\":" + http + ",\"active\":" + active
            + ",\"nameservice\":" + (ha ? "\"minidfs-ns\"" : "null") + secureJson + "}");

        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            String[] f = line.split("\t");
            if (f[0].equals("quit")) {
                break;
            }
            try {
                out.println("OK " + run(cluster, active, f));
                if (f[0].equals("failover")) {
                    active = 1 - active;
                }
            } catch (Throwable e) {
                // Errors too (a missing class): the protocol answers, the launcher lives on.
                out.println("ERR " + e.toString().replace('\n', ' '));
            }
        }
        cluster.shutdown();
        System.exit(0);
    }

    private static long dataFiles(FileSystem fs, Path dir) throws java.io.IOException {
        long n = 0;
        for (org.apache.hadoop.fs.FileStatus st : fs.listStatus(dir)) {
            String name = st.getPath().getName();
            if (name.startsWith("_") || name.startsWith(".")) {
                continue;
            }
            n += st.isDirectory() ? dataFiles(fs, st.getPath()) : 1;
        }
        return n;
    }

    /** Hadoop's own reader of an image (the Delimited processor of `hdfs oiv`): "files bytes"
     *  of the files under `prefix`. */
    private static String offlineImageViewer(String image, String prefix) throws Exception {
        java.io.File out = java.io.File.createTempFile("oiv", ".tsv");
        try {
            int rc = org.apache.hadoop.hdfs.tools.offlineImageViewer.OfflineImageViewerPB.run(
                new String[] {"-i", image, "-o", out.getAbsolutePath(), "-p", "Delimited"});
            if (rc != 0) {
                throw new IllegalStateException("oiv exited with " + rc);
            }
            long files = 0;
            long bytes = 0;
            boolean header = true;
            for (String line : java.nio.file.Files.readAllLines(out.toPath(), StandardCharsets.UTF_8)) {
                if (header) {
                    header = false;
                    continue;
                }
                String[] c = line.split("\t");
                if (c.length < 10 || !c[0].startsWith(prefix) || c[9].startsWith("d")) {
                    continue;
                }
                files++;
                bytes += Long.parseLong(c[6]);
            }
            return files + " " + bytes;
        } finally {
            out.delete();
        }
    }

    private static String run(MiniDFSCluster cluster, int active, String[] f) throws Exception {
        FileSystem fs = cluster.getFileSystem(active);
        switch (f[0]) {
            case "write": {
                long size = Long.parseLong(f[2]);
                byte[] chunk = new byte[65536];
                for (int i = 0; i < chunk.length; i++) {
                    chunk[i] = (byte) ('a' + i % 26);
                }
                try (OutputStream o = fs.create(new Path(f[1]), true)) {
                    for (long left = size; left > 0; left -= chunk.length) {
                        o.write(chunk, 0, (int) Math.min(left, chunk.length));
                    }
                }
                return "";
            }
            case "mkdir":
                fs.mkdirs(new Path(f[1]));
                return "";
            case "exists":
                return Boolean.toString(fs.exists(new Path(f[1])));
            case "files":
                return Long.toString(dataFiles(fs, new Path(f[1])));
            case "times":
                fs.setTimes(new Path(f[1]), Long.parseLong(f[2]), -1);
                return "";
            case "failover": {
                cluster.transitionToStandby(active);
                cluster.transitionToActive(1 - active);
                return Integer.toString(1 - active);
            }
            case "active":
                return Integer.toString(active);
            case "bulk": {
                // Empty files for benchmarks: <dir>/t<t>/dt=<p>/part-<f>, created and closed
                // through the client (the NameNode records them as any file; no DataNode
                // traffic for empty files).
                // Eight clients at once: the NameNode syncs its edit log for a group of them.
                int tables = Integer.parseInt(f[2]);
                int parts = Integer.parseInt(f[3]);
                int files = Integer.parseInt(f[4]);
                java.util.concurrent.ExecutorService pool =
                    java.util.concurrent.Executors.newFixedThreadPool(8);
                java.util.List<java.util.concurrent.Future<Object>> done = new java.util.ArrayList<>();
                for (int t = 0; t < tables; t++) {
                    for (int p = 0; p < parts; p++) {
                        final String dir = f[1] + "/t" + t + "/dt=" + p;
                        done.add(pool.submit(() -> {
                            fs.mkdirs(new Path(dir));
                            for (int i = 0; i < files; i++) {
                                fs.create(new Path(dir + "/part-" + i), true).close();
                            }
                            return null;
                        }));
                    }
                }
                pool.shutdown();
                for (java.util.concurrent.Future<Object> d : done) {
                    d.get();
                }
                return "";
            }
            case "chown":
                fs.setOwner(new Path(f[1]), f[2], f[3]);
                return "";
            case "save": {
                // A checkpoint as an operator makes one: safe mode, saveNamespace, leave.
                org.apache.hadoop.hdfs.DistributedFileSystem dfs =
                    (org.apache.hadoop.hdfs.DistributedFileSystem) fs;
                dfs.setSafeMode(org.apache.hadoop.hdfs.protocol.HdfsConstants.SafeModeAction.SAFEMODE_ENTER);
                dfs.saveNamespace();
                dfs.setSafeMode(org.apache.hadoop.hdfs.protocol.HdfsConstants.SafeModeAction.SAFEMODE_LEAVE);
                return cluster.getNameNode(active).getFSImage().getStorage().getStorageDir(0)
                    .getCurrentDir().getAbsolutePath();
            }
            case "oiv":
                return offlineImageViewer(f[1], f[2]);
            case "token": {
                Token<?> t = fs.getDelegationToken(f[1]);
                if (t == null) {
                    throw new IllegalStateException("the NameNode issued no delegation token");
                }
                return t.encodeToUrlString();
            }
            default:
                throw new IllegalArgumentException("unknown command " + f[0]);
        }
    }
}
