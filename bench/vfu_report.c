/* SPDX-License-Identifier: MIT */
/*
 * irqlink-bench, vfio-user: the results as tables and as JSON.
 */
#include "vfu_internal.h"
#include "bench.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>

const char *const vfu_op_name[BENCH_VFU_OPS] = {
	[BENCH_VFU_READ] = "REGION_READ",
	[BENCH_VFU_WRITE] = "REGION_WRITE",
};

const char *const vfu_way_name[BENCH_VFU_WAYS] = {
	[BENCH_VFU_INPROC] = "in-process (irqlink_dev)",
	[BENCH_VFU_PIPELINED] = "irqlink client, pipelined",
	[BENCH_VFU_SYNC] = "raw client, synchronous",
	[BENCH_VFU_WIDE] = "irqlink client, 253 per msg",
};

static const char *const way_key[BENCH_VFU_WAYS] = {
	[BENCH_VFU_INPROC] = "in_process",
	[BENCH_VFU_PIPELINED] = "pipelined",
	[BENCH_VFU_SYNC] = "synchronous",
	[BENCH_VFU_WIDE] = "pipelined_253",
};

static void put_us(FILE *f, int width, int prec, double v)
{
	if (isnan(v))
		fprintf(f, " %*s", width, "-");
	else
		fprintf(f, " %*.*f", width, prec, v);
}

static const char *const layout_key[BENCH_VFU_LAYOUTS] = {
	[BENCH_VFU_ONE_CPU] = "one_cpu",
	[BENCH_VFU_TWO_CPUS] = "two_cpus",
};

/* "every thread on CPU 0" / "device process on CPU 1, bench on CPU 0",
 * or why the placement has no figures. */
static bool layout_title(FILE *f, const struct bench_vfu_result *r,
			 unsigned int l)
{
	if (l == BENCH_VFU_ONE_CPU)
		fprintf(f, "every thread on CPU %d", r->cpu_bench);
	else if (r->cpu_device >= 0)
		fprintf(f, "device process on CPU %d, bench on CPU %d",
			r->cpu_device, r->cpu_bench);
	else
		fprintf(f, "device process on another CPU");
	if (!r->layout_ok[l])
		fprintf(f, ": not measured (no such CPU, or the system "
			"refused the placement)\n\n");
	return r->layout_ok[l];
}

static void print_rt(FILE *f, const struct bench_vfu_result *r)
{
	unsigned int i, k, l;

	for (l = 0; l < BENCH_VFU_LAYOUTS; l++) {
		fprintf(f, "Round trip, client -> device process -> client, ");
		if (!layout_title(f, r, l) || !r->nrt)
			continue;
		fprintf(f, "\n(us, %" PRIu64 " samples per path and row, "
			"interleaved)\n", r->rt[l][0].path[0].n);
		fprintf(f, "%-12s %5s %9s  %15s  %15s  %16s  %s\n", "",
			"bytes", "wire", "irqlink p50 p99", "raw p50 p99",
			"raw-poll p50 p99", "irqlink/raw p50 (p99) /raw-poll");
		for (i = 0; i < r->nrt; i++) {
			const struct bench_vfu_rt *x = &r->rt[l][i];
			char wire[32];

			snprintf(wire, sizeof(wire), "%u/%u", x->request_bytes,
				 x->reply_bytes);
			fprintf(f, "%-12s %5u %9s ", vfu_op_name[x->op],
				x->bytes, wire);
			for (k = 0; k < BENCH_VFU_PATHS; k++) {
				put_us(f, 7, 2, x->path[k].p50_us);
				put_us(f, 7, 2, x->path[k].p99_us);
				fputc(' ', f);
			}
			fprintf(f, "   %5.2fx (%.2fx) %6.2fx\n", x->ratio_p50,
				x->ratio_p99, x->poll_ratio_p50);
		}
		fputc('\n', f);
	}
	fprintf(f, "  irqlink = irqlink_vfu_client_ops region_read/region_write "
		"of the test device's BAR4\n  through irqlink's server. raw = "
		"the same bytes each way (wire = request/reply,\n  header "
		"included) between the same two processes, blocking read and "
		"write at both ends.\n  raw-poll = the same, waiting as irqlink "
		"does: non-blocking read, then poll() (the\n  client's with a "
		"%d ms timeout, the server's untimed). Target: REGION_READ p50\n"
		"  at most 1.15x raw.\n\n", POLL_TIMEOUT_MS);
}

static void print_irqs(FILE *f, const struct bench_vfu_result *r)
{
	unsigned int i, w, l;

	for (l = 0; l < BENCH_VFU_LAYOUTS; l++) {
		fprintf(f, "SET_IRQS of N eventfds to MSI-X, then de-assigned, ");
		if (!layout_title(f, r, l) || !r->nirqs)
			continue;
		fprintf(f, "\n(us; the server grants %u fds per message)\n",
			r->max_msg_fds);
		fprintf(f, "%6s  %-27s %5s %5s %11s %11s %14s\n", "N", "way",
			"msgs", "reps", "assign p50", "p99", "de-assign p50");
		for (i = 0; i < r->nirqs; i++) {
			const struct bench_vfu_irqs *x = &r->irqs[l][i];

			for (w = 0; w < BENCH_VFU_WAYS; w++) {
				const struct bench_vfu_way_result *y =
					&x->way[w];

				if (w == 0)
					fprintf(f, "%6u", x->fds);
				else
					fprintf(f, "%6s", "");
				fprintf(f, "  %-27s", vfu_way_name[w]);
				if (w == BENCH_VFU_INPROC)
					fprintf(f, " %5s", "-");
				else
					fprintf(f, " %5u", y->messages);
				fprintf(f, " %5" PRIu64, y->assign.n);
				put_us(f, 11, 1, y->assign.p50_us);
				put_us(f, 11, 1, y->assign.p99_us);
				put_us(f, 14, 1, y->deassign.p50_us);
				fputc('\n', f);
			}
			fprintf(f, "%6s  socket over in-process: %+.1f%% "
				"(253 per msg: %+.1f%%); synchronous / "
				"pipelined: %.2fx\n", "", x->socket_overhead_pct,
				x->wide_overhead_pct, x->sync_over_pipelined);
		}
		fputc('\n', f);
	}
	fprintf(f, "  Neither side registers bypass producers. Target: the "
		"socket adds at most 20%% for 2048.\n\n");
}

static void print_perfd(FILE *f, const struct bench_vfu_perfd *p)
{
	fprintf(f, "Per eventfd (us, median)\n");
	fprintf(f, "  fdinfo identity read (irqlink_bypass_token_from_fd)     "
		"%8.2f\n", p->token_us);
	fprintf(f, "  /proc/self/fd check + dup + close (the device model's)  "
		"%8.2f\n", p->check_dup_us);
	fprintf(f, "  SCM_RIGHTS pass + receive + close, 16 per message       "
		"%8.2f\n", p->scm_us);
	fprintf(f, "  SCM_RIGHTS pass + receive + close, 253 per message      "
		"%8.2f\n", p->scm_wide_us);
	fprintf(f, "  in-process SET_IRQS of 2048, per fd (one CPU)           "
		"%8.2f\n", p->inproc_us);
	fprintf(f, "  the socket's extra per fd (pipelined - in-process)      "
		"%8.2f\n", p->socket_extra_us);
}

void bench_vfu_print(FILE *f, const struct bench_vfu_result *r)
{
	if (!f || !r)
		return;
	fprintf(f, "== vfio-user, device in a child process%s ==\n\n",
		r->quick ? " (quick)" : "");
	print_rt(f, r);
	print_irqs(f, r);
	print_perfd(f, &r->perfd);
}

static struct json_object *json_stat(const struct bench_vfu_stat *s)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	json_object_object_add(o, "n", json_object_new_int64((int64_t)s->n));
	json_object_object_add(o, "p50_us", bench_json_num(s->p50_us));
	json_object_object_add(o, "p99_us", bench_json_num(s->p99_us));
	json_object_object_add(o, "min_us", bench_json_num(s->min_us));
	return o;
}

static const char *const path_key[BENCH_VFU_PATHS] = {
	[BENCH_VFU_IRQLINK] = "irqlink",
	[BENCH_VFU_RAW] = "raw",
	[BENCH_VFU_RAW_POLL] = "raw_poll",
};

static struct json_object *json_rt(const struct bench_vfu_rt *x)
{
	struct json_object *o = json_object_new_object();
	unsigned int k;

	if (!o)
		return NULL;
	json_object_object_add(o, "op",
			       json_object_new_string(vfu_op_name[x->op]));
	json_object_object_add(o, "bytes", json_object_new_int64(x->bytes));
	json_object_object_add(o, "request_bytes", json_object_new_int64(x->request_bytes));
	json_object_object_add(o, "reply_bytes", json_object_new_int64(x->reply_bytes));
	for (k = 0; k < BENCH_VFU_PATHS; k++)
		json_object_object_add(o, path_key[k], json_stat(&x->path[k]));
	json_object_object_add(o, "ratio_p50", bench_json_num(x->ratio_p50));
	json_object_object_add(o, "ratio_p99", bench_json_num(x->ratio_p99));
	json_object_object_add(o, "poll_ratio_p50", bench_json_num(x->poll_ratio_p50));
	return o;
}

static struct json_object *json_irqs(const struct bench_vfu_irqs *x)
{
	struct json_object *o = json_object_new_object();
	unsigned int w;

	if (!o)
		return NULL;
	json_object_object_add(o, "fds", json_object_new_int64(x->fds));
	for (w = 0; w < BENCH_VFU_WAYS; w++) {
		struct json_object *y = json_object_new_object();

		if (!y)
			continue;
		json_object_object_add(y, "assign", json_stat(&x->way[w].assign));
		json_object_object_add(y, "deassign", json_stat(&x->way[w].deassign));
		json_object_object_add(y, "messages", json_object_new_int64(x->way[w].messages));
		json_object_object_add(o, way_key[w], y);
	}
	json_object_object_add(o, "socket_overhead_pct", bench_json_num(x->socket_overhead_pct));
	json_object_object_add(o, "wide_overhead_pct", bench_json_num(x->wide_overhead_pct));
	json_object_object_add(o, "sync_over_pipelined", bench_json_num(x->sync_over_pipelined));
	return o;
}

struct json_object *bench_vfu_json(const struct bench_vfu_result *r)
{
	struct json_object *o, *rt, *irqs, *pf;
	unsigned int i, l;

	if (!r)
		return NULL;
	o = json_object_new_object();
	rt = json_object_new_object();
	irqs = json_object_new_object();
	pf = json_object_new_object();
	if (!o || !rt || !irqs || !pf) {
		json_object_put(o);
		json_object_put(rt);
		json_object_put(irqs);
		json_object_put(pf);
		return NULL;
	}
	json_object_object_add(o, "quick", json_object_new_boolean(r->quick));
	json_object_object_add(o, "device", json_object_new_string("child process"));
	json_object_object_add(o, "cpu_bench", json_object_new_int(r->cpu_bench));
	json_object_object_add(o, "cpu_device", json_object_new_int(r->cpu_device));
	for (l = 0; l < BENCH_VFU_LAYOUTS; l++) {
		struct json_object *a = json_object_new_array();
		struct json_object *b = json_object_new_array();

		if (!a || !b || !r->layout_ok[l]) {
			/* null: this placement was not measured. */
			json_object_put(a);
			json_object_put(b);
			json_object_object_add(rt, layout_key[l], NULL);
			json_object_object_add(irqs, layout_key[l], NULL);
			continue;
		}
		for (i = 0; i < r->nrt; i++)
			json_object_array_add(a, json_rt(&r->rt[l][i]));
		for (i = 0; i < r->nirqs; i++)
			json_object_array_add(b, json_irqs(&r->irqs[l][i]));
		json_object_object_add(rt, layout_key[l], a);
		json_object_object_add(irqs, layout_key[l], b);
	}
	json_object_object_add(o, "round_trips", rt);
	json_object_object_add(o, "max_msg_fds", json_object_new_int64(r->max_msg_fds));
	json_object_object_add(o, "set_irqs", irqs);
	json_object_object_add(pf, "token_us", bench_json_num(r->perfd.token_us));
	json_object_object_add(pf, "check_dup_us", bench_json_num(r->perfd.check_dup_us));
	json_object_object_add(pf, "scm_rights_us", bench_json_num(r->perfd.scm_us));
	json_object_object_add(pf, "scm_rights_253_us", bench_json_num(r->perfd.scm_wide_us));
	json_object_object_add(pf, "in_process_us", bench_json_num(r->perfd.inproc_us));
	json_object_object_add(pf, "socket_extra_us", bench_json_num(r->perfd.socket_extra_us));
	json_object_object_add(o, "per_fd", pf);
	return o;
}
