/* SPDX-License-Identifier: MIT */
/*
 * irqlink-bench, "cost as the work grows": how the price of an MSI-X
 * enable, of a mask or message change, and of a bypass registration moves
 * as the number of vectors (or registered pairs) grows.
 *
 * What is measured
 * ----------------
 * 1. Enabling N MSI-X vectors (N = 1, 64, 512, 2048; quick: 1, 64), three
 *    ways, interleaved within each repetition and each on a fresh VM (no
 *    vCPU, no guest: none is needed to route and attach):
 *      glue        the guest's own sequence through irqlink's PCI glue
 *                  (irqlink_pci_config_write / irqlink_pci_mmio): set the
 *                  Function Mask, write every table entry (address, data,
 *                  vector control 0), set Enable, clear the Function Mask.
 *                  The device is an irqlink_dev with N MSI-X vectors behind
 *                  a minimal config space, attached to the bypass manager.
 *      batched     what the glue does inside, done by the VMM itself: N
 *                  eventfds, one SET_IRQS, N consumers created in one
 *                  routes batch, one commit, N refreshes (irqfds).
 *      per-vector  the same with one routes batch per consumer: one
 *                  KVM_SET_GSI_ROUTING per vector, each made while the
 *                  irqfds of the vectors before it are attached, as a VMM
 *                  without batching would.
 *    Per way: the whole time, the KVM_SET_GSI_ROUTING calls it made
 *    (irqlink_routes_stats()), the time of those commits and the rest.
 *    The consumer ways time their commits in place (irqlink_routes_commit()
 *    is a call of their own). The glue makes its commit inside one config
 *    write, where no public counter or hook can time it, so its commit time
 *    is the batched way's commit of the same table in the same repetition
 *    (marked estimated) and its write is split instead at the device calls
 *    the glue makes around the commit (see struct bench_scale_glue_split).
 * 2. One vector of a 64-vector table: mask + unmask with the message left
 *    alone (time per pair, commits), and message changes (commits per
 *    change), through the glue.
 * 3. The bypass manager: register/unregister cost per operation with 1k,
 *    10k, 100k producer/consumer pairs already registered (quick: 1k, 10k),
 *    with plain integer tokens and no eventfds.
 * Every time is the median over the repetitions (5; quick: 3). No figure is
 * checked against a target here: these are benchmark figures.
 *
 * Needs /dev/kvm. bench_scale_run() raises the soft RLIMIT_NOFILE when the
 * largest table needs more descriptors than it allows (5 per vector in use,
 * 8 asked for), as irqlink-vm does; a hard limit below that is an error.
 *
 * Self-contained: depends on the public irqlink API, json-c and libc only.
 */
#ifndef IRQLINK_BENCH_SCALE_H
#define IRQLINK_BENCH_SCALE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <json-c/json.h>

struct bench_scale_cfg {
	bool quick;             /* small sizes for CI: seconds */
};

#define BENCH_SCALE_MAX_SIZES 4

enum bench_scale_way {
	BENCH_SCALE_GLUE = 0,
	BENCH_SCALE_BATCHED,
	BENCH_SCALE_PER_VECTOR,
	BENCH_SCALE_WAYS,
};

/*
 * struct bench_scale_way_result - one way of enabling N vectors.
 * @total_ms:        the whole enable, median.
 * @commit_ms:       KVM_SET_GSI_ROUTING calls (irqlink_routes_commit()),
 *                   median; for the glue an estimate (@commit_estimated).
 * @commit_estimated: @commit_ms is not timed in this way itself (the glue:
 *                   see the file comment).
 * @rest_ms:         @total_ms - @commit_ms per repetition, median.
 * @commits_min, @commits_max: KVM_SET_GSI_ROUTING calls made by one enable
 *                   (irqlink_routes_stats().commits), over the repetitions.
 * @in_kernel_min:   vectors delivered in-kernel afterwards (bypass paired,
 *                   irqfd attached), the fewest over the repetitions.
 */
struct bench_scale_way_result {
	double total_ms;
	double commit_ms;
	bool commit_estimated;
	double rest_ms;
	uint64_t commits_min, commits_max;
	uint64_t in_kernel_min;
};

/*
 * struct bench_scale_glue_split - where the glue's enable goes, medians in
 * ms. The bounds of the last write's phases are the glue's own calls into
 * the device (SET_IRQS), which it makes in a fixed order around its commit
 * (src/pci_vectors.c): a phase is NAN when that order was not seen.
 * @program_ms:  Function Mask set, the N table entries written (4 MMIO
 *               writes each), Enable set: everything before the last write.
 * @sinks_ms:    last write (Function Mask cleared) up to its SET_IRQS with
 *               the eventfds: N eventfds and N consumers (relay entries,
 *               GSIs, bypass registration, eventfd identity reads).
 * @triggers_ms: that SET_IRQS: the device takes the eventfds, registers N
 *               producers, the bypass manager pairs them (routes staged).
 * @commit_irqfds_ms: from there to the device's UNMASK: the one routing
 *               commit, then N consumers leave the relay (a round trip to
 *               its thread each) and attach their irqfds.
 * @unmask_ms:   the UNMASK and the rest of the write.
 * @route_batches_min, @route_batches_max: routing batches the glue closed
 *               over the whole enable (irqlink_pci_stats.route_batches),
 *               each at most one KVM_SET_GSI_ROUTING.
 */
struct bench_scale_glue_split {
	double program_ms;
	double sinks_ms;
	double triggers_ms;
	double commit_irqfds_ms;
	double unmask_ms;
	uint64_t route_batches_min, route_batches_max;
};

/*
 * struct bench_scale_enable - enabling @vectors MSI-X vectors.
 * @way:     indexed by enum bench_scale_way.
 * @glue:    the glue's split.
 * @speedup: per-vector total / glue total (medians).
 */
struct bench_scale_enable {
	unsigned int vectors;
	struct bench_scale_way_result way[BENCH_SCALE_WAYS];
	struct bench_scale_glue_split glue;
	double speedup;
};

/*
 * struct bench_scale_mask - one vector of a @vectors table, enabled through
 * the glue. Commit counts are irqlink_routes_stats().commits over all the
 * operations of one repetition, the largest over the repetitions.
 * @pairs:            mask + unmask pairs per repetition (vector control 1
 *                    then 0; the message is not touched).
 * @pair_us:          time per pair, median.
 * @pair_commits:     routing commits over the @pairs pairs (target 0).
 * @pair_set_irqs:    SET_IRQS MASK/UNMASK the glue made per pair
 *                    (irqlink_pci_stats.mask_calls).
 * @changes:          message changes per repetition, of each kind.
 * @data_us, @data_commits: rewriting the Message Data dword of the
 *                    unmasked entry: time per change, commits per change
 *                    (target 1).
 * @masked_us, @masked_commits: mask, rewrite address and data, unmask:
 *                    time per change, commits per change (target 1).
 */
struct bench_scale_mask {
	unsigned int vectors;
	unsigned int pairs;
	double pair_us;
	uint64_t pair_commits;
	double pair_set_irqs;
	unsigned int changes;
	double data_us, data_commits;
	double masked_us, masked_commits;
};

/*
 * struct bench_scale_bypass - the bypass manager with @pairs pairs already
 * registered (connected). Each figure is ns per operation over a batch of
 * bench_scale_result.bypass_ops fresh tokens, median over the repetitions.
 * @reg_producer_ns:   register a producer with no consumer yet.
 * @reg_consumer_ns:   register its consumer: the pair connects.
 * @unreg_consumer_ns: unregister the consumer: the pair disconnects.
 * @unreg_producer_ns: unregister the lone producer.
 */
struct bench_scale_bypass {
	unsigned int pairs;
	double reg_producer_ns;
	double reg_consumer_ns;
	double unreg_consumer_ns;
	double unreg_producer_ns;
};

/*
 * struct bench_scale_result - everything bench_scale_run() measured.
 * @quick:       run with cfg.quick.
 * @reps:        repetitions behind each median.
 * @identity_us: one eventfd identity read (irqlink_bypass_token_from_fd(),
 *               the /proc read the library makes for every eventfd it
 *               takes), median: a unit for the "rest" of an enable.
 * @bypass_ops:  operations per bypass batch.
 */
struct bench_scale_result {
	bool quick;
	unsigned int reps;
	unsigned int nenable;
	struct bench_scale_enable enable[BENCH_SCALE_MAX_SIZES];
	double identity_us;
	struct bench_scale_mask mask;
	unsigned int nbypass;
	unsigned int bypass_ops;
	struct bench_scale_bypass bypass[BENCH_SCALE_MAX_SIZES];
};

/*
 * bench_scale_run - measure. Returns 0 and *@out (free it with
 * bench_scale_free()), or -errno with *@out NULL and a message in user
 * terms in @why (@whylen bytes, may be 0). Never prints, never exits.
 */
int bench_scale_run(const struct bench_scale_cfg *cfg,
		    struct bench_scale_result **out, char *why, size_t whylen);

/* bench_scale_print - the results as readable tables on @f. */
void bench_scale_print(FILE *f, const struct bench_scale_result *r);

/* bench_scale_json - the results as a new json-c object (the caller owns
 * the reference), or NULL when out of memory. Times that could not be
 * taken are null. */
struct json_object *bench_scale_json(const struct bench_scale_result *r);

/* bench_scale_free - NULL is a no-op. */
void bench_scale_free(struct bench_scale_result *r);

#endif
