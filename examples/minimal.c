/* SPDX-License-Identifier: MIT */
/*
 * The smallest program that uses an installed libirqlink through
 * pkg-config; CI builds it against a staged install so the public headers
 * stay self-contained and the .pc file stays right.
 */
#include <irqlink/irqlink.h>

#include <stdio.h>
#include <string.h>

int main(void)
{
	struct irqlink_dev_shape shape = { .intx_pin = true, .msix_vectors = 16 };
	struct irqlink_dev *dev;
	int r = irqlink_dev_create(&shape, &dev);

	if (r) {
		fprintf(stderr, "irqlink_dev_create: %s\n", strerror(-r));
		return 1;
	}
	irqlink_dev_destroy(dev);
	puts("ok");
	return 0;
}
