/*
 * Directories made and removed safely: below the state directory a job may have planted
 * symlinks, made trees unreadable or read-only; these never follow a link and wipe what held
 * credentials. The workspace, the lock store, the tool bundles and the sandbox use them.
 */
#ifndef FS_H
#define FS_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Sets the mode of directory `path` through an fd, so a symlink swapped in is not followed;
 * with `owned`, refuses a directory that is not berth's own user's. 0, or -1 after reporting.
 */
int set_dir_mode(const char *path, mode_t mode, int owned);

/*
 * mkdir -p; the directories it creates get `mode` whatever the umask, existing ones are left
 * as they are. 0, or -1 after reporting.
 */
int make_dirs(const char *path, mode_t mode);

/*
 * Removes `path` and everything below it without following symlinks, making what a job made
 * read-only writable again. With `wipe`, regular files are overwritten with zeros first
 * (credentials). 0 when it is gone.
 */
int remove_tree(const char *path, int wipe);

/*
 * Formats a path into `out` (`size` bytes): 0, or -1 after error("path too long: ...") when it
 * does not fit, with `out` empty, so a cut path is never used (a shorter one may name another
 * file). Settings cap the lengths of what paths are made of; this is the check that does not
 * depend on that.
 */
int path_join(char *out, size_t size, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
