// The GNU extensions of posix_spawn that Swift's Glibc module does not import.
#define _GNU_SOURCE
#include "cspawn.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

int cspawn_add_chdir(posix_spawn_file_actions_t *actions, const char *path) {
    return posix_spawn_file_actions_addchdir_np(actions, path);
}

int cspawn_add_close_from(posix_spawn_file_actions_t *actions, int lowest) {
    return posix_spawn_file_actions_addclosefrom_np(actions, lowest);
}

int cspawn_pipe(int ends[2]) {
    return pipe2(ends, O_CLOEXEC);
}

int cspawn_open_pty(char *path, unsigned long capacity) {
    int controller = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (controller < 0) return -1;
    if (grantpt(controller) != 0 || unlockpt(controller) != 0 || ptsname_r(controller, path, capacity) != 0) {
        close(controller);
        return -1;
    }
    return controller;
}
