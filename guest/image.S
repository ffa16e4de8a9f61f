/* SPDX-License-Identifier: MIT */
/* Embeds the flat guest binary (KG_GUEST_BIN, a path set by meson) into the
 * test harness as kg_guest_image[] .. kg_guest_image_end[]. */
	.section .rodata.kg_guest_image, "a"
	.balign 16
	.globl	kg_guest_image
	.globl	kg_guest_image_end
kg_guest_image:
	.incbin	KG_GUEST_BIN
kg_guest_image_end:

	.section .note.GNU-stack, "", @progbits
