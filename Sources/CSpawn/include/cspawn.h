#ifndef CSPAWN_H
#define CSPAWN_H

#include <spawn.h>

/// posix_spawn_file_actions_addchdir_np (glibc 2.29+): the child starts in `path`.
int cspawn_add_chdir(posix_spawn_file_actions_t *actions, const char *path);

/// posix_spawn_file_actions_addclosefrom_np (glibc 2.34+): the child closes every descriptor from
/// `lowest` up, so it inherits nothing but what the actions set up.
int cspawn_add_close_from(posix_spawn_file_actions_t *actions, int lowest);

/// pipe2(ends, O_CLOEXEC): a pipe whose ends no other child inherits.
int cspawn_pipe(int ends[2]);

/// A new pseudo-terminal (posix_openpt, grantpt, unlockpt): returns the controller's descriptor
/// (close-on-exec) and writes the device's path into `path`, or returns -1 with errno set.
int cspawn_open_pty(char *path, unsigned long capacity);

#endif
