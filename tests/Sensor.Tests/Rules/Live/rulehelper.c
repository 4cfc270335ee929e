/* Triggers for the default rules that busybox cannot produce: execution from a memfd and ptrace requests.
 * Built statically by the live tests (cc -static) and put into the test image, so it is part of the image
 * (lower layer) and its own exec is no drift. Usage:
 *   rulehelper memfd-exec NAME PROGRAM [ARGS...]   copy PROGRAM into memfd NAME and execveat it (fileless execution)
 *   rulehelper memfd-only NAME PROGRAM [ARGS...]   create the memfd but exec PROGRAM from disk (near miss)
 *   rulehelper ptrace attach|peek                  fork a child, PTRACE_ATTACH it (or only PTRACE_PEEKDATA it)
 *   rulehelper read FILE                           read a file the way an application does (near miss of the token rule) */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int memfd_with(const char *name, const char *program)
{
	int mfd = (int)syscall(SYS_memfd_create, name, 0);
	int src = open(program, O_RDONLY);
	struct stat st;
	if (mfd < 0 || src < 0 || fstat(src, &st) != 0) {
		perror("memfd");
		return -1;
	}
	off_t off = 0;
	while (off < st.st_size)
		if (sendfile(mfd, src, &off, st.st_size - off) <= 0) {
			perror("sendfile");
			return -1;
		}
	close(src);
	return mfd;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && strcmp(argv[1], "memfd-exec") == 0) {
		int mfd = memfd_with(argv[2], argv[3]);
		if (mfd < 0)
			return 1;
		syscall(SYS_execveat, mfd, "", &argv[3], environ, AT_EMPTY_PATH);
		perror("execveat");
		return 1;
	}
	if (argc >= 4 && strcmp(argv[1], "memfd-only") == 0) {
		if (memfd_with(argv[2], argv[3]) < 0)
			return 1;
		execv(argv[3], &argv[3]);
		perror("execv");
		return 1;
	}
	if (argc >= 3 && strcmp(argv[1], "ptrace") == 0) {
		pid_t child = fork();
		if (child == 0) {
			pause();
			_exit(0);
		}
		usleep(50000);
		long r;
		if (strcmp(argv[2], "attach") == 0) {
			r = ptrace(PTRACE_ATTACH, child, 0, 0);
			if (r == 0)
				waitpid(child, 0, 0);
		} else {
			r = ptrace(PTRACE_PEEKDATA, child, 0, 0);
		}
		printf("ptrace %s: %ld (%s)\n", argv[2], r, r == -1 ? strerror(errno) : "ok");
		kill(child, SIGKILL);
		waitpid(child, 0, 0);
		return 0;
	}
	if (argc >= 3 && strcmp(argv[1], "read") == 0) {
		char buf[4096];
		int fd = open(argv[2], O_RDONLY);
		ssize_t n;
		if (fd < 0) {
			perror("open");
			return 1;
		}
		while ((n = read(fd, buf, sizeof(buf))) > 0)
			fwrite(buf, 1, (size_t)n, stdout);
		close(fd);
		return 0;
	}
	fprintf(stderr, "usage: rulehelper memfd-exec|memfd-only NAME PROGRAM [ARGS] | ptrace attach|peek | read FILE\n");
	return 2;
}
