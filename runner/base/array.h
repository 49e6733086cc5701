/* Helpers for fixed arrays; the growth macro for heap arrays lives beside them. */
#ifndef BERTH_ARRAY_H
#define BERTH_ARRAY_H

/* The number of elements of a true array (not a pointer). */
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

#endif
