/* SPDX-License-Identifier: MIT */
/* Helpers for the tests that boot irqlink-vm's machine (vm_fixture.h). */
#include "vm_fixture.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

struct vm_machine *vm_fx_boot(struct vm_fx *f,
			      const struct vm_machine_config *cfg)
{
	char err[256] = "";

	f->fds_before = tu_open_fds();
	if (vm_machine_create(cfg, &f->m, err, sizeof(err)) ||
	    vm_machine_boot(f->m, err, sizeof(err)))
		fail_msg("machine: %s", err);
	return f->m;
}

void vm_fx_close_static(struct vm_fx *f)
{
	/* No timer stood in for a guest's acknowledgement. */
	assert_int_equal(vm_machine_timer_unmasks(f->m), 0);
	vm_machine_destroy(f->m);
	f->m = NULL;
	assert_int_equal(tu_open_fds(), f->fds_before);
}

void vm_fx_close(struct vm_fx *f)
{
	vm_fx_close_static(f);
	free(f);
}

int vm_fx_setup(void **state, const struct vm_machine_config *cfg)
{
	struct vm_fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	vm_fx_boot(f, cfg);
	*state = f;
	return 0;
}

int vm_fx_teardown(void **state)
{
	vm_fx_close(*state);
	return 0;
}

struct irqlink_pci_stats pstats(struct vm_machine *m)
{
	struct irqlink_pci_stats st;

	irqlink_pci_get_stats(m->dev->pci, &st);
	return st;
}

uint64_t relay_injections(struct vm_machine *m)
{
	struct irqlink_relay_stats st;

	assert_int_equal(irqlink_relay_get_stats(m->relay, &st), 0);
	return st.injections;
}


void reg_w(struct vm_machine *m, uint32_t reg, uint32_t v)
{
	assert_int_equal(kg_guest_write(m->g, vm_dev_reg_gpa(m->dev, reg), v, 4), 0);
}

uint32_t reg_r(struct vm_machine *m, uint32_t reg)
{
	uint64_t v = 0;

	assert_int_equal(kg_guest_read(m->g, vm_dev_reg_gpa(m->dev, reg), 4, &v), 0);
	return (uint32_t)v;
}

void cfg_w(struct vm_machine *m, uint32_t off, uint32_t size,
		  uint32_t v)
{
	assert_int_equal(kg_pci_cfg_write(m->g, BDF, off, size, v), 0);
}

uint32_t cfg_r(struct vm_machine *m, uint32_t off, uint32_t size)
{
	uint32_t v = 0;

	assert_int_equal(kg_pci_cfg_read(m->g, BDF, off, size, &v), 0);
	return v;
}

/* The device's command: what DOORBELL raises. */
void dev_command(struct vm_dev *d, uint32_t kind, uint32_t vector,
		 uint32_t count)
{
	struct kg_guest *g = d->m->g;

	assert_int_equal(kg_guest_write(g, vm_dev_reg_gpa(d, TESTDEV_REG_KIND),
					kind, 4), 0);
	assert_int_equal(kg_guest_write(g, vm_dev_reg_gpa(d,
					TESTDEV_REG_VECTOR), vector, 4), 0);
	assert_int_equal(kg_guest_write(g, vm_dev_reg_gpa(d, TESTDEV_REG_COUNT),
					count, 4), 0);
}

void command(struct vm_machine *m, uint32_t kind, uint32_t vector,
	     uint32_t count)
{
	dev_command(m->dev, kind, vector, count);
}

/* The guest asks for @count interrupts one at a time through the doorbell,
 * cycling @nvec vectors from @vector (the VECTOR register selects them when
 * nvec > 1), waiting for each before the next. */
void dev_guest_run(struct vm_dev *d, unsigned int vector, unsigned int nvec,
		   uint32_t count)
{
	struct kg_ext_run req = {
		.kick_gpa = vm_dev_reg_gpa(d, TESTDEV_REG_DOORBELL),
		.kick_value = 1,
		.kick_size = 4,
		.sel_gpa = nvec > 1 ? vm_dev_reg_gpa(d, TESTDEV_REG_VECTOR) : 0,
		.count = count,
		.vector = vector,
		.nvec = nvec,
		.timeout_ms = WAIT_MS,
	};
	uint32_t done = 0;

	assert_int_equal(kg_pci_run(d->m->g, &req, &done), 0);
	assert_int_equal(done, count);
}

void guest_run(struct vm_machine *m, unsigned int vector, unsigned int nvec,
	       uint32_t count)
{
	dev_guest_run(m->dev, vector, nvec, count);
}

/* Counts must not move past @n once the source stops. */
void settled(struct vm_machine *m, unsigned int vec, uint64_t n)
{
	usleep(30 * 1000);
	assert_int_equal(kg_count(m->g, vec), n);
}

struct irqlink_dev_stats dstats(struct vm_machine *m)
{
	struct irqlink_dev_stats st;

	irqlink_dev_get_stats(testdev_irq(m->dev->td), &st);
	return st;
}

struct vm_bus_stats bstats(struct vm_machine *m)
{
	struct vm_bus_stats st;

	vm_bus_get_stats(&m->bus, &st);
	return st;
}

void intx_on(struct vm_machine *m, bool ack)
{
	uint64_t status = vm_dev_reg_gpa(m->dev, TESTDEV_REG_STATUS);
	unsigned int pin = 0;

	assert_int_equal(kg_pci_intx(m->g, (unsigned int)m->dev->fn, VEC_INTX,
				     KG_PCI_PIN_FROM_LINE, status,
				     ack ? status : 0, &pin), 0);
	assert_int_equal(pin, m->intx_gsi);
}

/* tests/<test> -> tools/irqlink-vm in the same build tree. */
static void vm_binary(char *path, size_t len)
{
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	assert_true(n > 0);
	self[n] = '\0';
	slash = strrchr(self, '/');
	assert_non_null(slash);
	*slash = '\0';
	assert_true(strlen(self) + sizeof("/../tools/irqlink-vm") <= len);
	strcpy(path, self);
	strcat(path, "/../tools/irqlink-vm");
	assert_int_equal(access(path, X_OK), 0);
}

/* Runs irqlink-vm with @args, at most @limit_s seconds (killed and failed
 * if it takes longer: it must never hang). Returns its exit status; its
 * stdout and stderr go to @out. */
int run_vm(const char *const *args, char *out, size_t outlen,
		  int limit_s)
{
	char path[PATH_MAX];
	const char *argv[32];
	int pipefd[2], status = 0, n = 0;
	size_t used = 0;
	time_t end = time(NULL) + limit_s;
	pid_t pid;

	vm_binary(path, sizeof(path));
	argv[n++] = path;
	for (int i = 0; args[i] && n < 31; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(pipefd[1], 1);
		dup2(pipefd[1], 2);
		execv(path, (char *const *)argv);
		_exit(127);
	}
	close(pipefd[1]);
	for (;;) {
		struct pollfd p = { .fd = pipefd[0], .events = POLLIN };
		int left = (int)(end - time(NULL));
		ssize_t r;

		if (left <= 0 || poll(&p, 1, left * 1000) <= 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			close(pipefd[0]);
			fail_msg("irqlink-vm %s did not finish in %d s", args[0],
				 limit_s);
		}
		r = read(pipefd[0], out + used, outlen - 1 - used);
		if (r <= 0)
			break;
		used += (size_t)r;
		if (used == outlen - 1)
			break;
	}
	out[used] = '\0';
	close(pipefd[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

/* ---- irqlink-devd ---------------------------------------------------- */

void devd_start(struct devd *d, const char *const *args)
{
	strcpy(d->dir, "/tmp/irqlink-devd-XXXXXX");
	assert_non_null(mkdtemp(d->dir));
	snprintf(d->path, sizeof(d->path), "%s/dev.sock", d->dir);
	devd_restart(d, args);
}

void devd_restart(struct devd *d, const char *const *args)
{
	const char *bin = getenv("IRQLINK_DEVD");
	const char *argv[16] = { "irqlink-devd", "-q" };
	size_t n = 2;
	struct stat st;

	if (!bin)
		fail_msg("IRQLINK_DEVD is not set (run through meson test)");
	while (args && *args && n < 14)
		argv[n++] = *args++;
	argv[n++] = d->path;
	argv[n] = NULL;
	d->pid = fork();
	assert_true(d->pid >= 0);
	if (d->pid == 0) {
		/* A test that fails or is killed must not leave it behind. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execv(bin, (char *const *)argv);
		_exit(127);
	}
	for (int i = 0; i < 5000 && stat(d->path, &st); i++)
		tu_sleep_ms(1);
	assert_int_equal(stat(d->path, &st), 0);
}

void devd_stop(struct devd *d)
{
	int status;

	if (d->pid > 0) {
		kill(d->pid, SIGTERM);
		assert_int_equal(waitpid(d->pid, &status, 0), d->pid);
		assert_true(WIFEXITED(status));
		assert_int_equal(WEXITSTATUS(status), 0);
		assert_int_equal(access(d->path, F_OK), -1);
	}
	rmdir(d->dir);
}

/* ---- irqlink-vm's demo output ------------------------------------------ */

/* Finds the demo's table row for @path and checks sent == received ==
 * @n, lost 0. */
void demo_row(const char *out, const char *path, unsigned int n)
{
	char key[16];
	const char *row;
	unsigned int vectors = 0;
	unsigned long long sent = 0, received = 0;
	long long lost = -1;

	snprintf(key, sizeof(key), "\n%s ", path);
	row = strstr(out, key);
	assert_non_null(row);
	assert_int_equal(sscanf(row + strlen(key), "%u %llu %llu %lld", &vectors,
				&sent, &received, &lost), 4);
	assert_int_equal(sent, n);
	assert_int_equal(received, n);
	assert_int_equal(lost, 0);
}

/* ---- the memory BAR, mapped straight into the guest ------------------- */

static uint64_t mem_bar(struct vm_machine *m)
{
	uint64_t a = kg_ext(m->g)->fn[m->dev->fn].bar[TESTDEV_MEM_BAR].addr;

	assert_true(a != 0);
	return a;
}

/* The device's own view of word @off of its memory. */
static uint32_t dev_mem(struct vm_machine *m, uint32_t off)
{
	reg_w(m, TESTDEV_REG_MEM_OFF, off);
	return vm_dev_reg(m->dev, TESTDEV_REG_MEM_DATA);
}

void mem_bar_direct(struct vm_machine *m)
{
	uint64_t bar4 = mem_bar(m), exits, v = 0, moved = 0xc0800000;
	uint32_t cmd;

	assert_int_equal(pstats(m).mapped_areas, 1);
	/* The guest's store and load in the mappable area: no exit. */
	exits = bstats(m).bar_accesses;
	assert_int_equal(kg_guest_write(m->g, bar4 + 0x2000, 0x1234abcd, 4), 0);
	assert_int_equal(kg_guest_read(m->g, bar4 + 0x2000, 4, &v), 0);
	assert_int_equal(v, 0x1234abcd);
	assert_int_equal(bstats(m).bar_accesses, exits);
	/* It is the device's memory, both ways. */
	assert_int_equal(dev_mem(m, 0x2000), 0x1234abcd);
	reg_w(m, TESTDEV_REG_MEM_DATA, 0x55aa55aa);
	exits = bstats(m).bar_accesses;
	assert_int_equal(kg_guest_read(m->g, bar4 + 0x2000, 4, &v), 0);
	assert_int_equal(v, 0x55aa55aa);
	assert_int_equal(bstats(m).bar_accesses, exits);
	/* The first page is not mappable: it traps, and still arrives. */
	assert_int_equal(kg_guest_write(m->g, bar4 + 0x10, 0x77, 4), 0);
	assert_int_equal(bstats(m).bar_accesses, exits + 1);
	assert_int_equal(dev_mem(m, 0x10), 0x77);

	/* The guest moves the BAR: the area moves with it. */
	assert_int_equal(kg_pci_cfg_write(m->g, BDF, 0x20, 4, (uint32_t)moved),
			 0);
	exits = bstats(m).bar_accesses;
	assert_int_equal(kg_guest_read(m->g, moved + 0x2000, 4, &v), 0);
	assert_int_equal(v, 0x55aa55aa);
	assert_int_equal(bstats(m).bar_accesses, exits);
	assert_int_equal(pstats(m).mapped_areas, 1);
	/* Memory decoding off: no area; on again: back. */
	cmd = cfg_r(m, 0x04, 2);
	cfg_w(m, 0x04, 2, cmd & ~2u);
	assert_int_equal(pstats(m).mapped_areas, 0);
	cfg_w(m, 0x04, 2, cmd);
	assert_int_equal(pstats(m).mapped_areas, 1);
	assert_int_equal(kg_pci_cfg_write(m->g, BDF, 0x20, 4, (uint32_t)bar4),
			 0);
	assert_int_equal(kg_guest_read(m->g, bar4 + 0x2000, 4, &v), 0);
	assert_int_equal(v, 0x55aa55aa);
}

