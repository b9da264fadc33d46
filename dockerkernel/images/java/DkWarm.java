// DkWarm: a Java cell's warm compiler and JVM, started by `runner.py --warm java ... DkWarm`
// while the container waits in the pool (see dockerkernel/languages.py, the java entry).
//
// javac's own start-up (a JVM, then the compiler's classes loaded and JIT-compiled) is most of
// a Java cell's time: ~700 ms of the ~750 ms `javac Main.java` takes. Here the compiler is
// loaded and warmed by compiling a few dummy programs before the cell arrives; the cell is then
// compiled in memory with exactly javac's arguments (ToolProvider's compiler prints the same
// diagnostics as the javac command) and its Main runs in this same JVM, as `java Main` would:
//
// * the header and source come on stdin (dockerkernel/protocol.py); the header's "compile"
//   argv is `dkbuild.py {file} -- javac ARGS` and "run" `java OPTIONS -cp {dir} Main`: what
//   dkbuild.py does for a Java notebook program (DkVars.java, //dk:alt lines) happens here;
// * builds are kept and reused under header "compile_key" like the runner's own
//   (runner.py reuse_build/keep_build: same directory, same layout, warnings.txt);
// * a failed compile is announced on $DK_DONE_FD as `compile_failed STATUS LENGTH\n` and the
//   diagnostics; the runner reports it as it reports a failed compiler process;
// * main(String[]) runs in a new thread named "main" with a fresh class loader over /tmp/dk; an
//   uncaught exception is printed by the thread's uncaught-exception handler (`Exception in
//   thread "main" ...`, the frames of this class removed) and the status is 1; System.exit(n)
//   ends the JVM with n; the JVM waits for the program's non-daemon threads, flushes
//   System.out/err and announces the status on $DK_DONE_FD;
// * the cell's environment (header "env", DK_NONCE) is put into this JVM's System.getenv()
//   (which needs --add-opens of java.lang and java.util); its stdin is the terminal or pipe the
//   runner made ($DK_STDIN_TTY / $DK_STDIN_FD), chosen as the runner chooses it.
// A compile or run argv of another shape (a future option) runs as a process, as the runner
// would run it.

import java.io.*;
import java.lang.invoke.MethodHandle;
import java.lang.invoke.MethodHandles;
import java.lang.invoke.MethodType;
import java.lang.reflect.Field;
import java.net.URL;
import java.net.URLClassLoader;
import java.nio.charset.StandardCharsets;
import java.nio.file.*;
import java.nio.file.attribute.FileTime;
import java.util.*;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;

public final class DkWarm {
    static final String CELL_DIR = "/tmp/dk";
    static final String NOTEBOOK_MARK = "dockerkernel notebook program";
    static final String STATE = "/workspace/.dockerkernel";
    static final String COMPILED_DIR = STATE + "/compiled";
    static final int COMPILED_KEEP = 32; // as runner.py
    static final long COMPILED_MAX_BYTES = 64L << 20;
    static final int DIAGNOSTICS_MAX = 65536; // bytes of compiler output reported, as runner.py
    static final Pattern ALT = Pattern.compile("//dk:alt@(\\d+):(.*)$");
    static final int WARM_ROUNDS = 4; // dummy compiles before the cell: the JIT has the hot paths by then

    static JavaCompiler compiler;
    static FileOutputStream done; // $DK_DONE_FD

    public static void main(String[] args) throws Exception {
        restoreStderr();
        done = openFd(System.getenv("DK_DONE_FD"), true);
        compiler = ToolProvider.getSystemJavaCompiler();
        InputStream cellIn = new BufferedInputStream(new FileInputStream(FileDescriptor.in), 1 << 16);
        warm(cellIn);
        Map<String, Object> header = readHeader(cellIn);
        byte[] source = readExactly(cellIn, ((Number) header.get("size")).intValue());
        // cellIn is not closed: that would close FileDescriptor.in, which the program's System.in reads
        setEnv(header);
        chooseStdin(header);
        int status = runCell(header, source);
        System.out.flush();
        System.err.flush();
        // the runner ends the cell on the announcement, without waiting for this JVM to end;
        // shutdown hooks of the program may still print, so with one it waits for the exit
        if (!hasShutdownHooks()) announce(status);
        System.exit(status);
    }

    static boolean hasShutdownHooks() {
        try {
            Field f = Class.forName("java.lang.ApplicationShutdownHooks").getDeclaredField("hooks");
            f.setAccessible(true);
            synchronized (Class.forName("java.lang.ApplicationShutdownHooks")) {
                Map<?, ?> hooks = (Map<?, ?>) f.get(null);
                return hooks == null || !hooks.isEmpty();
            }
        } catch (ReflectiveOperationException | RuntimeException e) {
            return true;
        }
    }

    // -- warming ---------------------------------------------------------------------------
    static final String DUMMY = "import java.util.*;\nclass DkDummy%d {\n"
            + "    static Map<String, List<Integer>> m = new TreeMap<>();\n"
            + "    record P(int x, String y) {}\n"
            + "    public static void main(String[] args) throws Exception {\n"
            + "        List<Integer> l = new ArrayList<>(List.of(3, 1, 2));\n"
            + "        l.sort(Comparator.naturalOrder());\n"
            + "        for (int i = 0; i < l.size(); i++) m.computeIfAbsent(\"k\" + i, k -> new ArrayList<>()).add(l.get(i) * %d);\n"
            + "        String s = String.format(\"%%s %%d\", new P(1, \"a\"), l.stream().mapToInt(Integer::intValue).sum());\n"
            + "        try { Object o = Class.forName(\"java.lang.String\").getDeclaredFields(); } catch (Exception e) { throw new IllegalStateException(e); }\n"
            + "        System.out.println(s + m);\n    }\n}\n";

    /** Thrown by the warm-up's task listener: the cell has come, the dummy compile stops. */
    static final class CellArrived extends RuntimeException {
        private static final long serialVersionUID = 1L;

        CellArrived() {
            super(null, null, false, false);
        }
    }

    /**
     * Compile a few dummy programs. Stops as soon as the cell is there to read, even in the
     * middle of a compile (a task listener looks between javac's phases of each class): a cell
     * never waits for a warm-up round, and one whose build is kept needs no compiler at all.
     */
    static void warm(InputStream cellIn) {
        Path dir = null;
        try {
            dir = Files.createTempDirectory("dkwarm");
            com.sun.source.util.TaskListener stop = new com.sun.source.util.TaskListener() {
                @Override
                public void started(com.sun.source.util.TaskEvent e) {
                    try {
                        if (cellIn.available() > 0) throw new CellArrived();
                    } catch (IOException ignored) {
                        throw new CellArrived();
                    }
                }
            };
            for (int round = 0; round < WARM_ROUNDS && cellIn.available() == 0; round++) {
                Path file = dir.resolve("DkDummy" + round + ".java");
                Files.writeString(file, String.format(DUMMY, round, round));
                try (javax.tools.StandardJavaFileManager files = compiler.getStandardFileManager(null, null, null)) {
                    com.sun.source.util.JavacTask task = (com.sun.source.util.JavacTask) compiler.getTask(
                            Writer.nullWriter(), files, diagnostic -> { },
                            List.of("-Xlint:none", "-d", dir.toString()), null, files.getJavaFileObjects(file));
                    task.addTaskListener(stop);
                    task.call();
                }
                if (round == 0) {
                    try (URLClassLoader loader = new URLClassLoader(new URL[] {dir.toUri().toURL()})) {
                        loader.loadClass("DkDummy0"); // class loading from a directory, once
                    }
                }
            }
        } catch (Exception | Error e) {
            // the cell came (CellArrived, perhaps wrapped by javac), or warming failed: it is an
            // optimisation only (even an OutOfMemoryError under a small %memory: the cell's own
            // compile then says what it says)
        } finally {
            if (dir != null) deleteTree(dir);
        }
    }

    // -- the cell ----------------------------------------------------------------------------
    @SuppressWarnings("unchecked")
    static int runCell(Map<String, Object> header, byte[] source) throws Exception {
        String sourceName = new File((String) header.get("source_file")).getName();
        new File(CELL_DIR).mkdirs();
        Path path = Paths.get(CELL_DIR, sourceName);
        Files.write(path, source);
        Map<String, String> names = new LinkedHashMap<>();
        names.put("{file}", path.toString());
        names.put("{dir}", CELL_DIR);
        String stem = sourceName.contains(".") ? sourceName.substring(0, sourceName.lastIndexOf('.')) : sourceName;
        names.put("{stem}", stem);
        names.put("{exe}", CELL_DIR + "/cell");
        List<String> compileArgv = header.get("compile") == null ? null : expand((List<Object>) header.get("compile"), names);
        List<String> runArgv = header.get("run") == null ? null : expand((List<Object>) header.get("run"), names);
        if (runArgv == null) {
            System.err.println("dockerkernel: the Java warm JVM got no run command");
            return 127;
        }
        if (compileArgv != null) {
            // javac's class path when no -cp is given, as the javac launcher makes it: $CLASSPATH,
            // else "." (not this JVM's own class path)
            System.setProperty("application.home", System.getProperty("java.home"));
            String classpath = System.getenv("CLASSPATH");
            if (classpath != null) System.setProperty("env.class.path", classpath);
            else System.clearProperty("env.class.path");
            String key = validKey(header.get("compile_key"));
            String diagnostics = key == null ? null : reuseBuild(key);
            if (diagnostics == null) {
                int[] status = new int[1];
                diagnostics = compile(compileArgv, path, status);
                if (status[0] != 0) {
                    announceCompileFailed(status[0], diagnostics);
                    return status[0];
                }
                if (key != null) keepBuild(key, sourceName, diagnostics);
            }
            if (!diagnostics.isBlank()) {
                // warnings only: shown with the file named as the cell, then the program runs
                String label = "Cell In[" + header.getOrDefault("execution_count", "") + "]";
                if (header.get("execution_count") instanceof Number)
                    label = "Cell In[" + ((Number) header.get("execution_count")).longValue() + "]";
                System.err.print(diagnostics.replace(path.toString(), label).replace(sourceName, label));
                System.err.flush();
            }
        }
        return run(runArgv);
    }

    static List<String> expand(List<Object> argv, Map<String, String> names) {
        List<String> out = new ArrayList<>();
        for (Object o : argv) {
            String arg = String.valueOf(o);
            for (Map.Entry<String, String> e : names.entrySet()) arg = arg.replace(e.getKey(), e.getValue());
            out.add(arg);
        }
        return out;
    }

    /** The compiler's output; ``status[0]`` its exit status. In process for dkbuild + javac. */
    static String compile(List<String> argv, Path source, int[] status) throws Exception {
        int sep = argv.indexOf("--");
        boolean viaDkbuild = sep > 0 && argv.subList(0, sep).stream().anyMatch(a -> a.endsWith("/dkbuild.py"));
        List<String> compilerArgv = viaDkbuild ? new ArrayList<>(argv.subList(sep + 1, argv.size())) : argv;
        if (compilerArgv.isEmpty() || !compilerArgv.get(0).equals("javac")) return runCollected(argv, status);
        List<String> javacArgs = new ArrayList<>();
        for (String a : compilerArgv.subList(1, compilerArgv.size()))
            if (!a.startsWith("-J")) javacArgs.add(a); // options of javac's own JVM: this one is running
        String text = new String(Files.readAllBytes(source), StandardCharsets.UTF_8);
        boolean notebook = viaDkbuild && text.contains(NOTEBOOK_MARK);
        if (notebook && source.getFileName().toString().endsWith(".java")) {
            // the variables the previous cell carried (dkbuild.py does the same for javac)
            Path target = source.resolveSibling("DkVars.java");
            try {
                Files.copy(Paths.get(STATE, "java", "DkVars.java"), target, StandardCopyOption.REPLACE_EXISTING);
            } catch (IOException e) {
                Files.writeString(target, "class DkVars {}\n");
            }
            javacArgs.add(target.toString());
        }
        String base = source.getFileName().toString();
        String output = "";
        for (int attempt = 0; attempt < 4; attempt++) {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            status[0] = compiler.run(InputStream.nullInputStream(), out, out, javacArgs.toArray(new String[0]));
            output = out.toString(StandardCharsets.UTF_8);
            if (status[0] == 0 || !notebook) break;
            // a //dk:alt line the compiler refused: replaced, then compiled again (as dkbuild.py)
            String[] lines = text.split("\n", -1);
            boolean changed = false;
            for (int i = 0; i < lines.length; i++) {
                Matcher m = ALT.matcher(lines[i]);
                if (m.find() && output.contains(base + ":" + m.group(1) + ":")) {
                    lines[i] = m.group(2);
                    changed = true;
                }
            }
            if (!changed) break;
            text = String.join("\n", lines);
            Files.writeString(source, text);
        }
        return tail(output);
    }

    static String tail(String text) {
        byte[] bytes = text.getBytes(StandardCharsets.UTF_8);
        if (bytes.length <= DIAGNOSTICS_MAX) return text;
        return new String(bytes, bytes.length - DIAGNOSTICS_MAX, DIAGNOSTICS_MAX, StandardCharsets.UTF_8);
    }

    /** A command of an unexpected shape, as a process with its output collected (stdout + stderr). */
    static String runCollected(List<String> argv, int[] status) throws Exception {
        Process p = new ProcessBuilder(argv).redirectErrorStream(true).redirectInput(ProcessBuilder.Redirect.from(new File("/dev/null"))).start();
        byte[] out = p.getInputStream().readAllBytes();
        status[0] = p.waitFor();
        return tail(new String(out, StandardCharsets.UTF_8));
    }

    static void announceCompileFailed(int status, String diagnostics) {
        if (done == null) {
            System.err.print(diagnostics);
            return;
        }
        try {
            byte[] body = diagnostics.getBytes(StandardCharsets.UTF_8);
            done.write(("compile_failed " + status + " " + body.length + "\n").getBytes(StandardCharsets.US_ASCII));
            done.write(body);
            done.flush();
        } catch (IOException e) {
            // the runner is gone
        }
        done = null;
    }

    // -- the compile cache (the layout of runner.py's reuse_build / keep_build) -------------
    static String validKey(Object key) {
        return key instanceof String && ((String) key).matches("[0-9a-f]{64}") ? (String) key : null;
    }

    static String reuseBuild(String key) {
        Path entry = Paths.get(COMPILED_DIR, key);
        try {
            String warnings = new String(Files.readAllBytes(entry.resolve("warnings.txt")), StandardCharsets.UTF_8);
            copyTree(entry, Paths.get(CELL_DIR), Set.of("warnings.txt"));
            Files.setLastModifiedTime(entry, FileTime.fromMillis(System.currentTimeMillis()));
            return warnings;
        } catch (IOException e) {
            return null;
        }
    }

    static void keepBuild(String key, String sourceName, String warnings) {
        try {
            Path cell = Paths.get(CELL_DIR);
            long size = 0;
            List<Path> names = new ArrayList<>();
            try (DirectoryStream<Path> entries = Files.newDirectoryStream(cell)) {
                for (Path p : entries) {
                    if (p.getFileName().toString().equals(sourceName)) continue;
                    names.add(p);
                    if (Files.isRegularFile(p)) size += Files.size(p);
                }
            }
            if (names.isEmpty() || size > COMPILED_MAX_BYTES) return;
            Path compiled = Paths.get(COMPILED_DIR);
            Files.createDirectories(compiled);
            Path staging = compiled.resolve("." + key + "." + ProcessHandle.current().pid());
            Files.createDirectories(staging);
            copyTree(cell, staging, Set.of(sourceName));
            Files.writeString(staging.resolve("warnings.txt"), warnings);
            try {
                Files.move(staging, compiled.resolve(key), StandardCopyOption.ATOMIC_MOVE);
            } catch (IOException e) {
                deleteTree(staging); // another cell kept the same build
            }
            List<Path> kept = new ArrayList<>();
            try (DirectoryStream<Path> entries = Files.newDirectoryStream(compiled)) {
                for (Path p : entries) if (!p.getFileName().toString().startsWith(".")) kept.add(p);
            }
            kept.sort(Comparator.comparingLong(p -> p.toFile().lastModified()));
            for (int i = 0; i < kept.size() - COMPILED_KEEP; i++) deleteTree(kept.get(i));
        } catch (IOException e) {
            // a full workspace only costs the next run a compile
        }
    }

    static void copyTree(Path from, Path to, Set<String> skipTop) throws IOException {
        try (DirectoryStream<Path> entries = Files.newDirectoryStream(from)) {
            for (Path p : entries) {
                String name = p.getFileName().toString();
                if (skipTop.contains(name)) continue;
                Path target = to.resolve(name);
                if (Files.isDirectory(p)) {
                    Files.createDirectories(target);
                    copyTree(p, target, Set.of());
                } else {
                    Files.copy(p, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.COPY_ATTRIBUTES);
                }
            }
        }
    }

    static void deleteTree(Path p) {
        try {
            if (Files.isDirectory(p, LinkOption.NOFOLLOW_LINKS))
                try (DirectoryStream<Path> entries = Files.newDirectoryStream(p)) {
                    for (Path c : entries) deleteTree(c);
                }
            Files.deleteIfExists(p);
        } catch (IOException e) {
            // best effort
        }
    }

    // -- running Main --------------------------------------------------------------------------
    static final Set<String> IN_PROCESS_OPTIONS = Set.of("-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xshare:auto");

    /** The program's exit status. In this JVM for `java [these options] -cp DIR CLASS ARGS`. */
    static int run(List<String> argv) throws Exception {
        int i = 1;
        while (i < argv.size() && IN_PROCESS_OPTIONS.contains(argv.get(i))) i++;
        boolean here = argv.get(0).equals("java") && i + 2 < argv.size() && argv.get(i).equals("-cp")
                && !argv.get(i + 2).startsWith("-");
        if (!here) return runProcess(argv);
        String classpath = argv.get(i + 1);
        String className = argv.get(i + 2);
        String[] programArgs = argv.subList(i + 3, argv.size()).toArray(new String[0]);
        List<URL> urls = new ArrayList<>();
        for (String entry : classpath.split(":")) urls.add(new File(entry).toURI().toURL());
        URLClassLoader loader = new URLClassLoader(urls.toArray(new URL[0]), ClassLoader.getSystemClassLoader());
        MethodHandle main;
        try {
            Class<?> cls = Class.forName(className, false, loader);
            // as the launcher: a public static main, in a class that need not be public
            java.lang.reflect.Method method = cls.getMethod("main", String[].class);
            if (!java.lang.reflect.Modifier.isStatic(method.getModifiers()) || method.getReturnType() != void.class)
                throw new NoSuchMethodException("main");
            method.setAccessible(true);
            main = MethodHandles.lookup().unreflect(method);
        } catch (ClassNotFoundException | NoClassDefFoundError e) {
            System.err.println("Error: Could not find or load main class " + className);
            System.err.println("Caused by: " + e);
            return 1;
        } catch (NoSuchMethodException | IllegalAccessException e) {
            System.err.println("Error: Main method not found in class " + className + ", please define the main method as:\n"
                    + "   public static void main(String[] args)\n"
                    + "or a JavaFX application class must extend javafx.application.Application");
            return 1;
        }
        boolean[] failed = new boolean[1];
        // the program's thread is the one named "main" (as under `java Main`); this one waits for it
        Thread.currentThread().setName("dkwarm");
        Thread thread = new Thread(null, () -> {
            try {
                main.invokeExact(programArgs);
            } catch (Throwable t) {
                failed[0] = true;
                trim(t, Collections.newSetFromMap(new IdentityHashMap<>()));
                DkWarm.<RuntimeException>rethrow(t); // printed by the uncaught-exception handler
            }
        }, "main");
        thread.setContextClassLoader(loader);
        thread.start();
        thread.join();
        // as the JVM does after main: wait for the program's other non-daemon threads
        Thread self = Thread.currentThread();
        ThreadGroup root = self.getThreadGroup();
        while (root.getParent() != null) root = root.getParent();
        for (boolean waited = true; waited;) {
            waited = false;
            Thread[] threads = new Thread[root.activeCount() + 16];
            int count = root.enumerate(threads, true);
            for (int k = 0; k < count; k++) {
                Thread t = threads[k];
                if (t != self && !t.isDaemon() && t.isAlive()) {
                    t.join();
                    waited = true;
                }
            }
        }
        return failed[0] ? 1 : 0;
    }

    /** Drop the frames below the program's main (this class, method handles) from t and its causes. */
    static void trim(Throwable t, Set<Throwable> seen) {
        if (t == null || !seen.add(t)) return;
        StackTraceElement[] frames = t.getStackTrace();
        int end = frames.length;
        // the JDK's frames (method handles, Thread.run) and this class's: `java Main` shows none
        while (end > 0 && (frames[end - 1].getModuleName() != null || frames[end - 1].getClassName().startsWith("DkWarm")))
            end--;
        if (end > 0 && end < frames.length) t.setStackTrace(Arrays.copyOf(frames, end));
        trim(t.getCause(), seen);
        for (Throwable s : t.getSuppressed()) trim(s, seen);
    }

    @SuppressWarnings("unchecked")
    static <T extends Throwable> void rethrow(Throwable t) throws T {
        throw (T) t;
    }

    /** A run argv of an unexpected shape, as a process with the program's stdin/stdout/stderr. */
    static int runProcess(List<String> argv) throws Exception {
        ProcessBuilder pb = new ProcessBuilder(argv).redirectOutput(ProcessBuilder.Redirect.INHERIT)
                .redirectError(ProcessBuilder.Redirect.INHERIT);
        pb.redirectInput(stdinPath == null ? ProcessBuilder.Redirect.from(new File("/dev/null"))
                : ProcessBuilder.Redirect.from(new File(stdinPath)));
        pb.environment().remove("DK_DONE_FD");
        try {
            return pb.start().waitFor();
        } catch (IOException e) {
            System.err.println("dockerkernel: cannot start " + argv.get(0) + ": " + e.getMessage());
            return 127;
        }
    }

    // -- environment and stdin ---------------------------------------------------------------
    static String stdinPath;

    /**
     * libc's dup2 and setenv through the foreign linker (an incubator module in JDK 17, whose
     * start-up warning is why the JVM starts with stderr on /dev/null and the real one on
     * $DK_STDERR_FD: see languages.py). Null when unavailable; callers then fall back to Java-only means.
     */
    static final class Libc {
        final MethodHandle dup2, close, setenv;

        Libc() throws Throwable {
            jdk.incubator.foreign.CLinker linker = jdk.incubator.foreign.CLinker.getInstance();
            jdk.incubator.foreign.SymbolLookup libc = jdk.incubator.foreign.CLinker.systemLookup();
            dup2 = linker.downcallHandle(libc.lookup("dup2").orElseThrow(),
                    MethodType.methodType(int.class, int.class, int.class),
                    jdk.incubator.foreign.FunctionDescriptor.of(jdk.incubator.foreign.CLinker.C_INT,
                            jdk.incubator.foreign.CLinker.C_INT, jdk.incubator.foreign.CLinker.C_INT));
            close = linker.downcallHandle(libc.lookup("close").orElseThrow(),
                    MethodType.methodType(int.class, int.class),
                    jdk.incubator.foreign.FunctionDescriptor.of(jdk.incubator.foreign.CLinker.C_INT,
                            jdk.incubator.foreign.CLinker.C_INT));
            setenv = linker.downcallHandle(libc.lookup("setenv").orElseThrow(),
                    MethodType.methodType(int.class, jdk.incubator.foreign.MemoryAddress.class,
                            jdk.incubator.foreign.MemoryAddress.class, int.class),
                    jdk.incubator.foreign.FunctionDescriptor.of(jdk.incubator.foreign.CLinker.C_INT,
                            jdk.incubator.foreign.CLinker.C_POINTER, jdk.incubator.foreign.CLinker.C_POINTER,
                            jdk.incubator.foreign.CLinker.C_INT));
        }

        boolean dup2(int from, int to) {
            try {
                return (int) dup2.invokeExact(from, to) == to;
            } catch (Throwable e) {
                return false;
            }
        }

        void close(int fd) {
            try {
                int ignored = (int) close.invokeExact(fd);
            } catch (Throwable e) {
                // an open descriptor more
            }
        }

        void setenv(String name, String value) throws Throwable {
            try (jdk.incubator.foreign.ResourceScope scope = jdk.incubator.foreign.ResourceScope.newConfinedScope()) {
                int ignored = (int) setenv.invokeExact(jdk.incubator.foreign.CLinker.toCString(name, scope).address(),
                        jdk.incubator.foreign.CLinker.toCString(value, scope).address(), 1);
            }
        }
    }

    static Libc libc;

    /** fd 2 back to the container's stderr (the launcher kept it on $DK_STDERR_FD, see Libc). */
    static void restoreStderr() {
        try {
            libc = new Libc();
        } catch (Throwable e) {
            libc = null;
        }
        String saved = System.getenv("DK_STDERR_FD");
        if (saved == null || !saved.matches("\\d+")) return; // started without the redirection
        int fd = Integer.parseInt(saved);
        if (libc != null && libc.dup2(fd, 2)) {
            libc.close(fd);
            return;
        }
        // no libc: Java's own stderr at least (processes the program starts inherit /dev/null)
        try {
            System.setErr(new PrintStream(new FileOutputStream("/proc/self/fd/" + fd), true));
        } catch (IOException e) {
            // nowhere better to write
        }
    }


    /** The program's stdin: the runner's terminal when the frontend can answer, else its pipe. */
    static void chooseStdin(Map<String, Object> header) throws IOException {
        Object file = header.get("stdin_file");
        boolean tty = Boolean.TRUE.equals(header.get("stdin")) && (file == null || "".equals(file))
                && new File("/proc/self/syscall").exists();
        String fd = System.getenv(tty ? "DK_STDIN_TTY" : "DK_STDIN_FD");
        if (fd == null) return;
        stdinPath = "/proc/self/fd/" + fd;
        if (libc != null && libc.dup2(Integer.parseInt(fd), 0)) {
            // fd 0 itself, as for `java Main`: processes the program starts inherit it too
            stdinPath = "/proc/self/fd/0";
            System.setIn(new BufferedInputStream(new FileInputStream(FileDescriptor.in)));
            return;
        }
        // the same open file as the runner's descriptor: its tty name is what the runner watches
        System.setIn(new BufferedInputStream(new FileInputStream(stdinPath)));
    }

    @SuppressWarnings("unchecked")
    static void setEnv(Map<String, Object> header) {
        Map<String, String> add = new LinkedHashMap<>();
        Object env = header.get("env");
        if (env instanceof Map) for (Map.Entry<String, Object> e : ((Map<String, Object>) env).entrySet())
            add.put(e.getKey(), String.valueOf(e.getValue()));
        add.put("DK_NONCE", String.valueOf(header.get("nonce")));
        try {
            Class<?> pe = Class.forName("java.lang.ProcessEnvironment");
            Field f = pe.getDeclaredField("theUnmodifiableEnvironment");
            f.setAccessible(true);
            Object unmodifiable = f.get(null);
            Field m = Class.forName("java.util.Collections$UnmodifiableMap").getDeclaredField("m");
            m.setAccessible(true);
            // the string view over the variables ProcessBuilder copies too
            Map<String, String> backing = (Map<String, String>) m.get(unmodifiable);
            backing.putAll(add);
            backing.remove("DK_DONE_FD");
            backing.remove("DK_STDERR_FD");
        } catch (ReflectiveOperationException | RuntimeException e) {
            System.err.println("dockerkernel: the cell's environment could not be set in the warm JVM: " + e);
        }
        // and the process's own, which the processes the program starts inherit
        if (libc != null) {
            try {
                for (Map.Entry<String, String> e : add.entrySet()) libc.setenv(e.getKey(), e.getValue());
            } catch (Throwable e) {
                System.err.println("dockerkernel: the cell's environment could not be set for its processes: " + e);
            }
        }
    }

    static FileOutputStream openFd(String fd, boolean write) {
        if (fd == null) return null;
        try {
            return new FileOutputStream("/proc/self/fd/" + fd);
        } catch (IOException e) {
            return null;
        }
    }

    /** Announce the program's exit status to the runner ("STATUS\n" on $DK_DONE_FD). */
    static void announce(int status) {
        if (done == null) return;
        try {
            done.write((status + "\n").getBytes(StandardCharsets.US_ASCII));
            done.flush();
        } catch (IOException e) {
            // the runner is gone
        }
    }

    // -- the header ----------------------------------------------------------------------------
    static Map<String, Object> readHeader(InputStream in) throws IOException {
        ByteArrayOutputStream line = new ByteArrayOutputStream();
        for (int b; (b = in.read()) != '\n';) {
            if (b < 0) System.exit(0); // the kernel went away before sending a cell
            line.write(b);
        }
        @SuppressWarnings("unchecked")
        Map<String, Object> header = (Map<String, Object>) new Json(line.toString(StandardCharsets.UTF_8)).value();
        return header;
    }

    static byte[] readExactly(InputStream in, int size) throws IOException {
        // a loop of read(): FileInputStream.readNBytes seeks, which a pipe refuses (JDK 17)
        byte[] data = new byte[size];
        for (int got = 0, n; got < size; got += n) {
            n = in.read(data, got, size - got);
            if (n < 0) System.exit(0);
        }
        return data;
    }

    /** The little JSON the header is: objects, arrays, strings, numbers, true/false/null. */
    static final class Json {
        final String s;
        int i;

        Json(String s) {
            this.s = s;
        }

        Object value() {
            skip();
            char c = s.charAt(i);
            if (c == '{') {
                Map<String, Object> m = new LinkedHashMap<>();
                i++;
                skip();
                if (s.charAt(i) == '}') { i++; return m; }
                while (true) {
                    skip();
                    String k = string();
                    skip();
                    i++; // ':'
                    m.put(k, value());
                    skip();
                    if (s.charAt(i++) == '}') return m;
                }
            }
            if (c == '[') {
                List<Object> l = new ArrayList<>();
                i++;
                skip();
                if (s.charAt(i) == ']') { i++; return l; }
                while (true) {
                    l.add(value());
                    skip();
                    if (s.charAt(i++) == ']') return l;
                }
            }
            if (c == '"') return string();
            if (s.startsWith("true", i)) { i += 4; return Boolean.TRUE; }
            if (s.startsWith("false", i)) { i += 5; return Boolean.FALSE; }
            if (s.startsWith("null", i)) { i += 4; return null; }
            int start = i;
            while (i < s.length() && "+-0123456789.eE".indexOf(s.charAt(i)) >= 0) i++;
            String n = s.substring(start, i);
            if (n.contains(".") || n.contains("e") || n.contains("E")) return Double.parseDouble(n);
            return Long.parseLong(n);
        }

        String string() {
            StringBuilder b = new StringBuilder();
            i++; // '"'
            while (true) {
                char c = s.charAt(i++);
                if (c == '"') return b.toString();
                if (c != '\\') { b.append(c); continue; }
                char e = s.charAt(i++);
                switch (e) {
                    case 'n': b.append('\n'); break;
                    case 't': b.append('\t'); break;
                    case 'r': b.append('\r'); break;
                    case 'b': b.append('\b'); break;
                    case 'f': b.append('\f'); break;
                    case 'u': b.append((char) Integer.parseInt(s.substring(i, i + 4), 16)); i += 4; break;
                    default: b.append(e);
                }
            }
        }

        void skip() {
            while (i < s.length() && Character.isWhitespace(s.charAt(i))) i++;
        }
    }
}
