/* SPDX-License-Identifier: MIT */
/* Internal: the one container_of, for callbacks that get an embedded
 * struct (a bypass producer or consumer) and need the object around it. */
#ifndef IRQLINK_SRC_CONTAINER_OF_H
#define IRQLINK_SRC_CONTAINER_OF_H

#include <stddef.h>

#define il_container_of(p, type, member) \
	((type *)(void *)((char *)(p) - offsetof(type, member)))

#endif
