/* SPDX-License-Identifier: MIT */
/* Names of the INTx EOI policies and delivery modes, and which pairs work
 * (<irqlink/eoi.h>). */
#include <irqlink/eoi.h>

#include <errno.h>
#include <stddef.h>
#include <string.h>

static const char *const policy_names[] = {
	[IRQLINK_EOI_RESAMPLEFD] = "resamplefd",
	[IRQLINK_EOI_BAR_ACCESS] = "bar-access",
	[IRQLINK_EOI_GUEST_PORT] = "guest-port",
};

static const char *const delivery_names[] = {
	[IRQLINK_DELIVERY_AUTO] = "auto",
	[IRQLINK_DELIVERY_KERNEL] = "kernel",
	[IRQLINK_DELIVERY_RELAY] = "relay",
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static int lookup(const char *const *names, size_t n, const char *name)
{
	for (size_t i = 0; name && i < n; i++)
		if (!strcmp(names[i], name))
			return (int)i;
	return -EINVAL;
}

const char *irqlink_eoi_policy_name(enum irqlink_eoi_policy policy)
{
	return (unsigned int)policy < NELEM(policy_names) ?
		policy_names[policy] : NULL;
}

const char *irqlink_delivery_name(enum irqlink_delivery delivery)
{
	return (unsigned int)delivery < NELEM(delivery_names) ?
		delivery_names[delivery] : NULL;
}

int irqlink_eoi_policy_parse(const char *name, enum irqlink_eoi_policy *out)
{
	int r = lookup(policy_names, NELEM(policy_names), name);

	if (r < 0 || !out)
		return -EINVAL;
	*out = (enum irqlink_eoi_policy)r;
	return 0;
}

int irqlink_delivery_parse(const char *name, enum irqlink_delivery *out)
{
	int r = lookup(delivery_names, NELEM(delivery_names), name);

	if (r < 0 || !out)
		return -EINVAL;
	*out = (enum irqlink_delivery)r;
	return 0;
}

int irqlink_eoi_check(enum irqlink_eoi_policy policy,
		      enum irqlink_delivery delivery, const char **why)
{
	const char *w = NULL;

	if (!irqlink_eoi_policy_name(policy) || !irqlink_delivery_name(delivery))
		w = "unknown EOI policy or delivery mode";
	else if (policy == IRQLINK_EOI_BAR_ACCESS &&
		 delivery == IRQLINK_DELIVERY_KERNEL)
		w = "the bar-access EOI policy needs the relay to inject "
		    "the INTx, so INTx cannot be delivered in-kernel";
	if (why)
		*why = w;
	return w ? -EINVAL : 0;
}
