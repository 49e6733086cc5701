/*
 * Unpacking a tool bundle (tar.gz, tar.xz, tar.zst) with libarchive, loaded on first use, into a
 * directory, refusing what a hostile archive could do: absolute paths, `..`, links that lead
 * outside, device files, FIFOs, hard links, oversized entries. Only regular files, directories
 * and symlinks that stay inside are made, never following an existing link.
 */
#ifndef UNPACK_H
#define UNPACK_H

#include <stddef.h>

#define UNPACK_MAX_ENTRY   (1ull << 30) /* one file */
#define UNPACK_MAX_TOTAL   (4ull << 30) /* the whole bundle, unpacked */
#define UNPACK_MAX_ENTRIES 100000

/*
 * Unpacks `archive` into the existing, empty directory `dir`; messages call it `name`. 0, or -1
 * after reporting.
 */
int unpack(const char *archive, const char *dir, const char *name);

#endif
