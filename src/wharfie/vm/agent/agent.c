/* wharfie-vm guest agent: PID 1 of the VM's initramfs.
 *
 * Loads the virtio modules shipped next to it, mounts the host's share (virtiofs, 9p as the
 * fallback), and serves the host's shim over one virtio-serial port ("wharfie"): it sets up
 * and runs the container's process and `exec` processes, relays their stdio, signals, terminal
 * sizes and exit codes. The protocol and the records of a process are in docs/vm.md.
 *
 * Frame: type (1 byte), id (u32 LE), length (u32 LE), payload.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <net/route.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/reboot.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define MAXP 64
#define ROOT "/c"

struct proc {
	int used;
	uint32_t id;
	pid_t pid;
	int in, out, err; /* our ends; in = pty master with a terminal */
	int tty;
	int exited;
	int code;
	char *ibuf; /* stdin not yet taken by the process (written as it becomes writable) */
	size_t ilen;
	int ieof;
};

static struct proc procs[MAXP];
static int port = -1;

/* The embedded DNS of user-defined networks is at 127.0.0.11 in the container's network
 * namespace on the host, which the guest cannot reach: the agent answers at 127.0.0.11:53
 * (UDP) in the guest and relays each query to the host ('D', id = a tag), where the shim
 * asks the engine's resolver from inside that namespace and sends the answer back ('d'). */
#define DNSQ 64
static int dns_fd = -1;
static uint32_t dns_tag = 1;
static struct {
	uint32_t tag;
	struct sockaddr_in from;
} dnsq[DNSQ];
static pid_t main_pid = -1;
static int pidns_fd = -1;

static void die(const char *what) {
	fprintf(stderr, "wharfie-agent: %s: %s\n", what, strerror(errno));
	sync();
	reboot(RB_POWER_OFF);
	_exit(1);
}

static void write_all(int fd, const void *buf, size_t n) {
	const char *p = buf;
	while (n) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN) {
				struct pollfd pf = {fd, POLLOUT, 0};
				poll(&pf, 1, -1);
				continue;
			}
			die("write to host");
		}
		p += w;
		n -= (size_t)w;
	}
}

static void send_frame(char type, uint32_t id, const void *data, uint32_t len) {
	unsigned char h[9];
	h[0] = (unsigned char)type;
	memcpy(h + 1, &id, 4);
	memcpy(h + 5, &len, 4);
	write_all(port, h, 9);
	if (len)
		write_all(port, data, len);
}

static void send_error(uint32_t id, const char *fmt, const char *arg) {
	char msg[1024];
	snprintf(msg, sizeof msg, fmt, arg, strerror(errno));
	send_frame('F', id, msg, (uint32_t)strlen(msg));
}

/* Load the modules of `dir` in name order (the initramfs numbers them dependencies first). */
static void load_modules(const char *dir) {
	struct dirent **names;
	int n = scandir(dir, &names, NULL, alphasort);
	for (int i = 0; i < n; i++) {
		char path[512];
		size_t len = strlen(names[i]->d_name);
		if (len > 3 && !strcmp(names[i]->d_name + len - 3, ".ko")) {
			snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
			int fd = open(path, O_RDONLY | O_CLOEXEC);
			if (fd >= 0) {
				if (syscall(SYS_finit_module, fd, "", 0) < 0 && errno != EEXIST)
					fprintf(stderr, "wharfie-agent: loading %s: %s\n", path,
						strerror(errno));
				close(fd);
			}
		}
		free(names[i]);
	}
	if (n > 0)
		free(names);
}

static int open_port(void) {
	for (int tries = 0; tries < 2000; tries++) {
		DIR *d = opendir("/sys/class/virtio-ports");
		struct dirent *e;
		while (d && (e = readdir(d))) {
			char path[512], name[64] = {0};
			if (e->d_name[0] == '.')
				continue;
			snprintf(path, sizeof path, "/sys/class/virtio-ports/%s/name", e->d_name);
			int fd = open(path, O_RDONLY);
			if (fd < 0)
				continue;
			ssize_t r = read(fd, name, sizeof name - 1);
			close(fd);
			if (r > 0 && strncmp(name, "wharfie", 7) == 0) {
				snprintf(path, sizeof path, "/dev/%s", e->d_name);
				int p = open(path, O_RDWR | O_CLOEXEC);
				if (p >= 0) {
					closedir(d);
					return p;
				}
			}
		}
		if (d)
			closedir(d);
		usleep(5000);
	}
	return -1;
}

static void mkdirs(const char *path) {
	char buf[4096];
	snprintf(buf, sizeof buf, "%s", path);
	for (char *p = buf + 1; *p; p++) {
		if (*p == '/') {
			*p = 0;
			mkdir(buf, 0755);
			*p = '/';
		}
	}
	mkdir(buf, 0755);
}

/* Create the mount point `dst` (under ROOT) as a directory, or as a file when the source is one. */
static void mountpoint(const char *dst, const char *src) {
	struct stat st;
	if (stat(dst, &st) == 0)
		return;
	if (src && stat(src, &st) == 0 && !S_ISDIR(st.st_mode)) {
		char parent[4096];
		snprintf(parent, sizeof parent, "%s", dst);
		char *slash = strrchr(parent, '/');
		if (slash) {
			*slash = 0;
			mkdirs(parent);
		}
		close(open(dst, O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
		return;
	}
	mkdirs(dst);
}

/* "type|source|dest|flags|data": source of a bind is a path under /share. */
static int do_mount(char *rec, uint32_t id) {
	char *f[5] = {0};
	for (int i = 0; i < 5; i++)
		f[i] = strsep(&rec, "|");
	if (!f[4]) {
		errno = EINVAL;
		send_error(id, "bad mount record %s: %s", f[0] ? f[0] : "");
		return -1;
	}
	unsigned long flags = strtoul(f[3], NULL, 10);
	char dst[4096], src[4096];
	snprintf(dst, sizeof dst, ROOT "%s", f[2]);
	int bind = strcmp(f[0], "bind") == 0 || strcmp(f[0], "gbind") == 0;
	if (strcmp(f[0], "bind") == 0)
		snprintf(src, sizeof src, "/share/%s", f[1]);
	else
		snprintf(src, sizeof src, "%s", f[1]);
	mountpoint(dst, bind ? src : NULL);
	if (bind) {
		if (mount(src, dst, NULL, MS_BIND | MS_REC, NULL) < 0) {
			send_error(id, "mounting %s: %s", f[2]);
			return -1;
		}
		if (flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC))
			mount(NULL, dst, NULL, MS_BIND | MS_REMOUNT | (flags & ~MS_REC), NULL);
		return 0;
	}
	if (strcmp(f[0], "proc") == 0)
		return 0; /* mounted by the container's init inside its pid namespace */
	if (mount(src, dst, f[0], flags, f[4]) < 0) {
		/* cgroup v1 names and the like that this kernel may not have: not fatal */
		if (strncmp(f[0], "cgroup", 6) == 0 || strcmp(f[0], "mqueue") == 0)
			return 0;
		send_error(id, "mounting %s: %s", f[2]);
		return -1;
	}
	return 0;
}

static uint32_t parse_ip(const char *s) {
	struct in_addr a;
	inet_aton(s, &a);
	return a.s_addr;
}

static void set_sin(struct sockaddr *sa, uint32_t addr) {
	struct sockaddr_in *sin = (struct sockaddr_in *)sa;
	memset(sin, 0, sizeof *sin);
	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = addr;
}

static void if_up(int s, const char *name) {
	struct ifreq ifr = {0};
	snprintf(ifr.ifr_name, IFNAMSIZ, "%s", name);
	if (ioctl(s, SIOCGIFFLAGS, &ifr) == 0) {
		ifr.ifr_flags |= IFF_UP;
		ioctl(s, SIOCSIFFLAGS, &ifr);
	}
}

/* "addr/prefix|gateway" on eth0 */
static void dns_open(void) {
	if (dns_fd >= 0)
		return;
	dns_fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	struct sockaddr_in a = {0};
	a.sin_family = AF_INET;
	a.sin_port = htons(53);
	a.sin_addr.s_addr = inet_addr("127.0.0.11");
	if (dns_fd >= 0 && bind(dns_fd, (struct sockaddr *)&a, sizeof a) < 0) {
		fprintf(stderr, "wharfie-agent: binding 127.0.0.11:53: %s\n", strerror(errno));
		close(dns_fd);
		dns_fd = -1;
	}
}

static void dns_query(void) {
	char buf[4096];
	struct sockaddr_in from;
	socklen_t flen = sizeof from;
	ssize_t n;
	while ((n = recvfrom(dns_fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &flen)) > 0) {
		uint32_t tag = dns_tag++;
		dnsq[tag % DNSQ].tag = tag;
		dnsq[tag % DNSQ].from = from;
		send_frame('D', tag, buf, (uint32_t)n);
		flen = sizeof from;
	}
}

static void dns_answer(uint32_t tag, const char *buf, uint32_t len) {
	if (dns_fd < 0 || dnsq[tag % DNSQ].tag != tag)
		return; /* too late: the slot went to a newer query */
	sendto(dns_fd, buf, len, 0, (struct sockaddr *)&dnsq[tag % DNSQ].from,
	       sizeof dnsq[tag % DNSQ].from);
	dnsq[tag % DNSQ].tag = 0;
}

static void do_net(char *rec) {
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return;
	if_up(s, "lo");
	char *cidr = strsep(&rec, "|");
	char *gw = rec;
	if (cidr && *cidr) {
		char *slash = strchr(cidr, '/');
		int prefix = slash ? atoi(slash + 1) : 32;
		if (slash)
			*slash = 0;
		struct ifreq ifr = {0};
		snprintf(ifr.ifr_name, IFNAMSIZ, "eth0");
		set_sin(&ifr.ifr_addr, parse_ip(cidr));
		ioctl(s, SIOCSIFADDR, &ifr);
		set_sin(&ifr.ifr_netmask, prefix ? htonl(~0u << (32 - prefix)) : 0);
		ioctl(s, SIOCSIFNETMASK, &ifr);
		if_up(s, "eth0");
		dns_open();
	}
	if (gw && *gw) {
		struct rtentry rt = {0};
		set_sin(&rt.rt_dst, 0);
		set_sin(&rt.rt_genmask, 0);
		set_sin(&rt.rt_gateway, parse_ip(gw));
		rt.rt_flags = RTF_UP | RTF_GATEWAY;
		rt.rt_dev = "eth0";
		ioctl(s, SIOCADDRT, &rt);
	}
	close(s);
}

/* After a restore: "cidr|gateway|mac" of the namespace the VM now lives in. */
static void renet(char *rec) {
	char *cidr = strsep(&rec, "|");
	char *gw = strsep(&rec, "|");
	char *mac = rec;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s < 0)
		return;
	unsigned int b[6];
	if (mac && sscanf(mac, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) == 6) {
		struct ifreq ifr = {0};
		snprintf(ifr.ifr_name, IFNAMSIZ, "eth0");
		ifr.ifr_hwaddr.sa_family = ARPHRD_ETHER;
		for (int i = 0; i < 6; i++)
			ifr.ifr_hwaddr.sa_data[i] = (char)b[i];
		ioctl(s, SIOCSIFHWADDR, &ifr);
	}
	struct rtentry rt = {0};
	set_sin(&rt.rt_dst, 0);
	set_sin(&rt.rt_genmask, 0);
	rt.rt_dev = "eth0";
	ioctl(s, SIOCDELRT, &rt); /* the old default route; do_net adds the new one */
	close(s);
	char again[256];
	snprintf(again, sizeof again, "%s|%s", cidr ? cidr : "", gw ? gw : "");
	do_net(again);
}

struct spec {
	char *argv[256];
	int argc;
	char *envp[512];
	int envc;
	char *cwd;
	uid_t uid;
	gid_t gid;
	gid_t groups[64];
	int ngroups;
	int tty;
	unsigned short rows, cols;
	char *hostname;
	struct {
		int res;
		rlim_t soft, hard;
	} rl[32];
	int nrl;
};

static const char *getenv_in(struct spec *s, const char *key) {
	size_t n = strlen(key);
	for (int i = 0; i < s->envc; i++)
		if (strncmp(s->envp[i], key, n) == 0 && s->envp[i][n] == '=')
			return s->envp[i] + n + 1;
	return NULL;
}

/* Resolve argv[0] as Go's exec.LookPath does in runc, inside the (already entered) root. */
static int lookup(struct spec *s, char *out, size_t n) {
	const char *a = s->argv[0];
	if (strchr(a, '/')) {
		snprintf(out, n, "%s", a);
		return access(out, X_OK) == 0 ? 0 : -1;
	}
	const char *path = getenv_in(s, "PATH");
	if (!path)
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
	char buf[4096];
	snprintf(buf, sizeof buf, "%s", path);
	for (char *save = buf, *dir; (dir = strsep(&save, ":"));) {
		struct stat st;
		snprintf(out, n, "%s/%s", *dir ? dir : ".", a);
		if (stat(out, &st) == 0 && S_ISREG(st.st_mode) && access(out, X_OK) == 0)
			return 0;
	}
	errno = ENOENT;
	return -2;
}

/* The process: after fork, in the container's pid namespace (or joined to it). */
static void child(struct spec *s, int fds[3], int errpipe, int is_main) {
	char exe[4096], msg[1024];
	sigset_t all;
	sigemptyset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	for (int i = 1; i < NSIG; i++)
		signal(i, SIG_DFL);
	if (s->tty) {
		setsid();
		ioctl(fds[0], TIOCSCTTY, 0);
	} else {
		setsid();
	}
	for (int i = 0; i < 3; i++)
		dup2(fds[i], i);
	if (is_main) {
		mkdir(ROOT "/proc", 0555);
		if (mount("proc", ROOT "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
			goto fail_proc;
		if (s->hostname)
			sethostname(s->hostname, strlen(s->hostname));
	}
	if (chroot(ROOT) < 0 || chdir("/") < 0)
		goto fail_root;
	if (s->cwd && chdir(s->cwd) < 0) {
		snprintf(msg, sizeof msg, "chdir to cwd (\"%s\") set in config.json failed: %s",
			 s->cwd, strerror(errno));
		goto report;
	}
	for (int i = 0; i < s->nrl; i++) {
		struct rlimit r = {s->rl[i].soft, s->rl[i].hard};
		setrlimit(s->rl[i].res, &r);
	}
	int rc = lookup(s, exe, sizeof exe);
	if (rc == -2) {
		snprintf(msg, sizeof msg, "exec: \"%s\": executable file not found in $PATH",
			 s->argv[0]);
		goto report;
	}
	if (setgroups((size_t)s->ngroups, s->groups) < 0 || setgid(s->gid) < 0 ||
	    setuid(s->uid) < 0) {
		snprintf(msg, sizeof msg, "setting user %u:%u: %s", s->uid, s->gid, strerror(errno));
		goto report;
	}
	s->argv[s->argc] = NULL;
	s->envp[s->envc] = NULL;
	execve(exe, s->argv, s->envp);
	snprintf(msg, sizeof msg, "exec: \"%s\": %s", s->argv[0],
		 errno == ENOENT ? "no such file or directory" : strerror(errno));
	goto report;
fail_proc:
	snprintf(msg, sizeof msg, "mounting /proc: %s", strerror(errno));
	goto report;
fail_root:
	snprintf(msg, sizeof msg, "entering the root filesystem: %s", strerror(errno));
report:
	write(errpipe, msg, strlen(msg));
	_exit(127);
}

static struct proc *find(uint32_t id) {
	for (int i = 0; i < MAXP; i++)
		if (procs[i].used && procs[i].id == id)
			return &procs[i];
	return NULL;
}

static void flush_in(struct proc *p) {
	while (p->ilen && p->in >= 0) {
		ssize_t w = write(p->in, p->ibuf, p->ilen);
		if (w > 0) {
			memmove(p->ibuf, p->ibuf + w, p->ilen - (size_t)w);
			p->ilen -= (size_t)w;
		} else if (w < 0 && (errno == EAGAIN || errno == EINTR)) {
			return;
		} else {
			p->ilen = 0; /* the process closed its stdin: what it did not read is dropped */
			p->ieof = 1;
		}
	}
	if (p->ieof && !p->tty && p->in >= 0) {
		close(p->in);
		p->in = -1;
	}
}

static void queue_in(struct proc *p, const char *buf, size_t len) {
	char *nb = realloc(p->ibuf, p->ilen + len);
	if (!nb)
		return;
	p->ibuf = nb;
	memcpy(p->ibuf + p->ilen, buf, len);
	p->ilen += len;
	flush_in(p);
}

static void set_nonblock(int fd) {
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

static void start_proc(uint32_t id, char *buf, uint32_t len) {
	static struct spec s;
	memset(&s, 0, sizeof s);
	int is_main = id == 0;
	for (char *p = buf, *next; p < buf + len; p = next) {
		next = p + strlen(p) + 1; /* before the key is cut off: values may hold '=' */
		char *eq = strchr(p, '=');
		if (!eq)
			continue;
		*eq = 0;
		char *v = eq + 1;
		if (!strcmp(p, "arg") && s.argc < 255)
			s.argv[s.argc++] = v;
		else if (!strcmp(p, "env") && s.envc < 511)
			s.envp[s.envc++] = v;
		else if (!strcmp(p, "cwd"))
			s.cwd = v;
		else if (!strcmp(p, "uid"))
			s.uid = (uid_t)strtoul(v, NULL, 10);
		else if (!strcmp(p, "gid"))
			s.gid = (gid_t)strtoul(v, NULL, 10);
		else if (!strcmp(p, "group") && s.ngroups < 64)
			s.groups[s.ngroups++] = (gid_t)strtoul(v, NULL, 10);
		else if (!strcmp(p, "tty"))
			s.tty = atoi(v);
		else if (!strcmp(p, "rows"))
			s.rows = (unsigned short)atoi(v);
		else if (!strcmp(p, "cols"))
			s.cols = (unsigned short)atoi(v);
		else if (!strcmp(p, "hostname"))
			s.hostname = v;
		else if (!strcmp(p, "rlimit") && s.nrl < 32) {
			char *end;
			s.rl[s.nrl].res = (int)strtol(v, &end, 10);
			s.rl[s.nrl].soft = strtoull(end, &end, 10);
			s.rl[s.nrl].hard = strtoull(end, &end, 10);
			s.nrl++;
		} else if (!strcmp(p, "mount") && is_main) {
			if (do_mount(v, id) < 0)
				return;
		} else if (!strcmp(p, "net") && is_main)
			do_net(v);
	}
	if (s.argc == 0) {
		errno = EINVAL;
		send_error(id, "no process args%s: %s", "");
		return;
	}
	struct proc *pr = NULL;
	for (int i = 0; i < MAXP; i++)
		if (!procs[i].used) {
			pr = &procs[i];
			break;
		}
	if (!pr) {
		errno = EAGAIN;
		send_error(id, "too many processes%s: %s", "");
		return;
	}
	int cfds[3], ours[3] = {-1, -1, -1};
	if (s.tty) {
		int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (m < 0 || grantpt(m) < 0 || unlockpt(m) < 0) {
			send_error(id, "opening a pty%s: %s", "");
			return;
		}
		struct winsize ws = {s.rows ? s.rows : 24, s.cols ? s.cols : 80, 0, 0};
		ioctl(m, TIOCSWINSZ, &ws);
		int sl = open(ptsname(m), O_RDWR | O_NOCTTY);
		cfds[0] = cfds[1] = cfds[2] = sl;
		ours[0] = m;
	} else {
		int p[3][2];
		pipe2(p[0], O_CLOEXEC);
		pipe2(p[1], O_CLOEXEC);
		pipe2(p[2], O_CLOEXEC);
		cfds[0] = p[0][0], ours[0] = p[0][1];
		cfds[1] = p[1][1], ours[1] = p[1][0];
		cfds[2] = p[2][1], ours[2] = p[2][0];
	}
	int ep[2];
	pipe2(ep, O_CLOEXEC);
	pid_t pid;
	if (is_main) {
		pid = (pid_t)syscall(SYS_clone, CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC | SIGCHLD,
				     NULL, NULL, NULL, NULL);
	} else {
		if (pidns_fd >= 0)
			setns(pidns_fd, CLONE_NEWPID);
		pid = fork();
	}
	if (pid == 0) {
		close(ep[0]);
		/* the child's copies of our ends are close-on-exec or closed here */
		for (int i = 0; i < 3; i++)
			if (ours[i] >= 0)
				close(ours[i]);
		if (!is_main && main_pid > 0) {
			/* join the container's uts and ipc namespaces too */
			char path[64];
			snprintf(path, sizeof path, "/proc/%d/ns/uts", main_pid);
			int fd = open(path, O_RDONLY);
			if (fd >= 0)
				setns(fd, CLONE_NEWUTS), close(fd);
			snprintf(path, sizeof path, "/proc/%d/ns/ipc", main_pid);
			fd = open(path, O_RDONLY);
			if (fd >= 0)
				setns(fd, CLONE_NEWIPC), close(fd);
		}
		child(&s, cfds, ep[1], is_main);
	}
	close(ep[1]);
	for (int i = 0; i < 3; i++)
		if (i == 0 || cfds[i] != cfds[0])
			close(cfds[i]);
	if (pid < 0) {
		send_error(id, "starting the process%s: %s", "");
		for (int i = 0; i < 3; i++)
			if (ours[i] >= 0)
				close(ours[i]);
		close(ep[0]);
		return;
	}
	char msg[1024];
	ssize_t n = read(ep[0], msg, sizeof msg - 1);
	close(ep[0]);
	if (n > 0) {
		msg[n] = 0;
		send_frame('F', id, msg, (uint32_t)n);
		for (int i = 0; i < 3; i++)
			if (ours[i] >= 0)
				close(ours[i]);
		waitpid(pid, NULL, 0);
		return;
	}
	memset(pr, 0, sizeof *pr);
	pr->used = 1;
	pr->id = id;
	pr->pid = pid;
	pr->tty = s.tty;
	pr->in = ours[0];
	pr->out = s.tty ? -1 : ours[1];
	pr->err = s.tty ? -1 : ours[2];
	for (int i = 0; i < 3; i++)
		if (ours[i] >= 0)
			set_nonblock(ours[i]);
	if (is_main) {
		char path[64];
		main_pid = pid;
		snprintf(path, sizeof path, "/proc/%d/ns/pid", pid);
		pidns_fd = open(path, O_RDONLY | O_CLOEXEC);
	}
	int32_t p32 = pid;
	send_frame('P', id, &p32, 4);
}

/* Relay what is readable on fd as stream type; returns 0 at EOF or error. */
static int pump(int fd, char type, uint32_t id) {
	static char buf[65536];
	ssize_t n = read(fd, buf, sizeof buf);
	if (n > 0) {
		send_frame(type, id, buf, (uint32_t)n);
		return 1;
	}
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 1;
	return 0;
}

static void finish(struct proc *p) {
	/* drain what the process left in its pipes, then report */
	for (errno = 0; p->tty && p->in >= 0 && pump(p->in, 'O', p->id) && errno != EAGAIN;)
		errno = 0;
	int fds[2] = {p->out, p->err};
	for (int i = 0; i < 2; i++) {
		if (fds[i] < 0)
			continue;
		for (;;) {
			errno = 0;
			if (!pump(fds[i], i ? 'e' : 'O', p->id) || errno == EAGAIN)
				break;
		}
	}
	int32_t code = p->code;
	send_frame('X', p->id, &code, 4);
	if (p->in >= 0)
		close(p->in);
	if (p->out >= 0)
		close(p->out);
	if (p->err >= 0)
		close(p->err);
	free(p->ibuf);
	p->ibuf = NULL;
	p->ilen = 0;
	if (p->id == 0) {
		/* the container is done: stop the VM */
		kill(-1, SIGKILL);
		sync();
		reboot(RB_POWER_OFF);
	}
	p->used = 0;
}

static void reap(void) {
	int st;
	pid_t pid;
	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		for (int i = 0; i < MAXP; i++) {
			struct proc *p = &procs[i];
			if (p->used && p->pid == pid) {
				p->code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
				p->exited = 1;
			}
		}
	}
}

static void handle(char type, uint32_t id, char *buf, uint32_t len) {
	struct proc *p = find(id);
	switch (type) {
	case 'C':
		start_proc(id, buf, len);
		break;
	case 'I':
		if (p && p->in >= 0)
			queue_in(p, buf, len);
		break;
	case 'E':
		if (p && !p->tty && p->in >= 0) {
			p->ieof = 1;
			flush_in(p);
		} else if (p && p->tty && p->in >= 0) {
			queue_in(p, "\x04", 1);
		}
		break;
	case 'S':
		if (p && len >= 4) {
			int32_t sig;
			memcpy(&sig, buf, 4);
			kill(p->pid, sig);
		}
		break;
	case 'W':
		if (p && p->tty && len >= 4) {
			uint16_t rc[2];
			memcpy(rc, buf, 4);
			struct winsize ws = {rc[0], rc[1], 0, 0};
			ioctl(p->in, TIOCSWINSZ, &ws);
		}
		break;
	case 'H':
		send_frame('h', id, NULL, 0);
		break;
	case 'T':
		if (len >= 12) {
			struct timespec ts = {0};
			uint64_t sec;
			uint32_t nsec;
			memcpy(&sec, buf, 8);
			memcpy(&nsec, buf + 8, 4);
			ts.tv_sec = (time_t)sec;
			ts.tv_nsec = nsec;
			clock_settime(CLOCK_REALTIME, &ts);
		}
		break;
	case 'N':
		renet(buf);
		break;
	case 'd':
		dns_answer(id, buf, len);
		break;
	case 'K': /* kill every process of the container */
		kill(-1, len >= 4 ? *(int32_t *)buf : SIGKILL);
		break;
	}
}

int main(void) {
	mount("devtmpfs", "/dev", "devtmpfs", 0, NULL);
	mount("proc", "/proc", "proc", 0, NULL);
	mount("sysfs", "/sys", "sysfs", 0, NULL);
	mkdir("/dev/pts", 0755);
	mount("devpts", "/dev/pts", "devpts", 0, "newinstance,ptmxmode=0666");
	int con = open("/dev/console", O_RDWR);
	if (con >= 0) {
		dup2(con, 0), dup2(con, 1), dup2(con, 2);
		if (con > 2)
			close(con);
	}
	char cmdline[4096] = {0};
	int cfd = open("/proc/cmdline", O_RDONLY);
	if (cfd >= 0) {
		read(cfd, cmdline, sizeof cmdline - 1);
		close(cfd);
	}
	if (strstr(cmdline, "wharfie.probe")) {
		/* the accelerator probe: reaching user space is the proof */
		write(1, "wharfie-probe-ok\n", 17);
		reboot(RB_POWER_OFF);
	}
	/* wharfie.disk: the share is an ext4 disk (/dev/vda), not a virtiofs/9p export: a VM
	 * QEMU can migrate (checkpoints); its modules are loaded only then */
	int disk = strstr(cmdline, "wharfie.disk") != NULL;
	load_modules("/mods");
	if (disk)
		load_modules("/mods/disk");
	char *bare = strstr(cmdline, "wharfie.bare=");
	port = bare ? -1 : open_port();
	if (port < 0 && !bare)
		die("no virtio-serial port named wharfie");
	mkdir("/share", 0755);
	if (disk) {
		if (mount("/dev/vda", "/share", "ext4", 0, NULL) < 0)
			die("mounting the root disk /dev/vda");
	} else if (mount("wharfie", "/share", "virtiofs", 0, NULL) < 0 &&
		   mount("wharfie", "/share", "9p", 0, "trans=virtio,version=9p2000.L,msize=262144") < 0)
		die("mounting the host share");
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (s >= 0) {
		if_up(s, "lo"); /* every container has a loopback, with or without a network */
		close(s);
	}
	mkdir(ROOT, 0755);
	if (mount("/share/rootfs", ROOT, NULL, MS_BIND | MS_REC, NULL) < 0)
		die("mounting the root filesystem");
	/* a disk's rootfs is writable on the host side: read-only is applied here */
	if (disk && strstr(cmdline, "wharfie.rootro") &&
	    mount(NULL, ROOT, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY, NULL) < 0)
		die("making the root filesystem read-only");
	if (bare) {
		/* the benchmark's baseline: the same kernel and rootfs running one program, no host
		 * channel (wharfie.bare=/bin/true or wharfie.bare=/bin/sleep,30) */
		char prog[512] = {0}, *argv[16] = {0};
		int argc = 0;
		sscanf(bare + 13, "%511s", prog);
		for (char *save = prog, *a; argc < 15 && (a = strsep(&save, ","));)
			argv[argc++] = a;
		pid_t pid = fork();
		if (pid == 0) {
			if (chroot(ROOT) == 0 && chdir("/") == 0)
				execv(argv[0], argv);
			_exit(127);
		}
		waitpid(pid, NULL, 0);
		reboot(RB_POWER_OFF);
	}
	sigset_t mask;
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigprocmask(SIG_BLOCK, &mask, NULL);
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	send_frame('R', 0, NULL, 0);
	set_nonblock(port);
	static char inbuf[1 << 20];
	size_t have = 0;
	for (;;) {
		struct pollfd pf[3 + 3 * MAXP];
		struct {
			struct proc *p;
			char type;
		} who[3 + 3 * MAXP];
		int n = 0;
		pf[n++] = (struct pollfd){port, POLLIN, 0};
		pf[n++] = (struct pollfd){sfd, POLLIN, 0};
		pf[n++] = (struct pollfd){dns_fd, POLLIN, 0}; /* fd -1: ignored by poll */
		for (int i = 0; i < MAXP; i++) {
			struct proc *p = &procs[i];
			if (!p->used)
				continue;
			short wr = p->ilen ? POLLOUT : 0;
			if (p->tty && p->in >= 0)
				who[n] = (typeof(who[0])){p, 'O'},
				pf[n++] = (struct pollfd){p->in, (short)(POLLIN | wr), 0};
			else if (p->in >= 0 && wr)
				who[n] = (typeof(who[0])){p, 'W'}, pf[n++] = (struct pollfd){p->in, wr, 0};
			if (p->out >= 0)
				who[n] = (typeof(who[0])){p, 'O'}, pf[n++] = (struct pollfd){p->out, POLLIN, 0};
			if (p->err >= 0)
				who[n] = (typeof(who[0])){p, 'e'}, pf[n++] = (struct pollfd){p->err, POLLIN, 0};
		}
		if (poll(pf, (nfds_t)n, -1) < 0 && errno != EINTR)
			die("poll");
		if (pf[2].revents & POLLIN)
			dns_query();
		for (int i = 3; i < n; i++) {
			if (!pf[i].revents)
				continue;
			struct proc *p = who[i].p;
			if (pf[i].revents & (POLLOUT | POLLERR) && pf[i].fd == p->in && p->ilen)
				flush_in(p);
			if (who[i].type == 'W' || !(pf[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			if (!pump(pf[i].fd, who[i].type, p->id)) {
				if (p->tty && pf[i].fd == p->in) {
					/* pty hung up: all of the process's side is closed */
				} else if (pf[i].fd == p->out) {
					close(p->out), p->out = -1;
				} else if (pf[i].fd == p->err) {
					close(p->err), p->err = -1;
				}
			}
		}
		if (pf[1].revents) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof si) > 0) {
			}
			reap();
		}
		if (pf[0].revents & POLLIN) {
			ssize_t r = read(port, inbuf + have, sizeof inbuf - have);
			if (r > 0)
				have += (size_t)r;
			size_t off = 0;
			while (have - off >= 9) {
				uint32_t id, len;
				memcpy(&id, inbuf + off + 1, 4);
				memcpy(&len, inbuf + off + 5, 4);
				if (len > sizeof inbuf - 9)
					die("frame too large");
				if (have - off < 9 + len)
					break;
				char *payload = inbuf + off + 9;
				char saved = 0;
				if (9 + len + off < sizeof inbuf)
					saved = payload[len], payload[len] = 0;
				handle(inbuf[off], id, payload, len);
				if (9 + len + off < sizeof inbuf)
					payload[len] = saved;
				off += 9 + len;
			}
			memmove(inbuf, inbuf + off, have - off);
			have -= off;
		} else if (pf[0].revents & (POLLHUP | POLLERR)) {
			usleep(10000); /* the host side is not connected (yet, or any more) */
		}
		for (int i = 0; i < MAXP; i++)
			if (procs[i].used && procs[i].exited)
				finish(&procs[i]);
	}
}
