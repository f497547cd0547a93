/* chat_floor: the cheapest chat broadcaster we know how to write, for benchmarks/chat_load.
 *
 * The "floor" server: what this machine's kernel and loopback allow, with no Python and no
 * scheduler in the way. Same protocol as gopl_trio.chat as far as the load generator sees:
 * the first line is the client's name, answered with "Nobody else is here" or "Already here:
 * ..."; every later line goes to every client as "NAME: TEXT". One thread, one epoll loop:
 * read everything that is ready, then give each client all the lines of that round in one
 * write (as gopl_trio's outbox sweep joins them). What a socket cannot take waits in the
 * client's buffer (at most 1 MiB, then lines are dropped) and goes out on EPOLLOUT.
 *
 *     cc -O2 -o chat_floor chat_floor.c && ./chat_floor   # prints "listening on" on stderr
 */
#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_FDS 65536
#define OUT_MAX (1 << 20)
#define LINE_MAX_ 65536

struct client {
    int active, named;
    char name[64];
    char in[LINE_MAX_];
    size_t in_len;
    char *out;
    size_t out_len, out_cap;
    int want_out;
};

static struct client *clients[MAX_FDS];
static int named[MAX_FDS]; /* the descriptors of the clients in the room */
static int n_named;
static int epfd;
/* The lines of this round, for everyone. */
static char *round_buf;
static size_t round_len, round_cap;

static void append(char **buf, size_t *len, size_t *cap, const char *data, size_t n) {
    if (*len + n > *cap) {
        size_t c = *cap ? *cap : 4096;
        while (c < *len + n) c *= 2;
        *buf = realloc(*buf, c);
        *cap = c;
    }
    memcpy(*buf + *len, data, n);
    *len += n;
}

static void drop(int fd) {
    struct client *c = clients[fd];
    if (!c) return;
    if (c->named)
        for (int i = 0; i < n_named; i++)
            if (named[i] == fd) {
                named[i] = named[--n_named];
                break;
            }
    epoll_ctl(epfd, EPOLL_CTL_DEL, fd, NULL);
    close(fd);
    free(c->out);
    free(c);
    clients[fd] = NULL;
}

static void set_out_interest(int fd, int want) {
    struct client *c = clients[fd];
    if (c->want_out == want) return;
    struct epoll_event ev = {.events = EPOLLIN | (want ? EPOLLOUT : 0), .data.fd = fd};
    epoll_ctl(epfd, EPOLL_CTL_MOD, fd, &ev);
    c->want_out = want;
}

/* Send what is queued for fd, then *data*; queue what the socket does not take. */
static void send_to(int fd, const char *data, size_t n) {
    struct client *c = clients[fd];
    if (c->out_len) { /* keep the order: behind what waits */
        if (c->out_len + n <= OUT_MAX) append(&c->out, &c->out_len, &c->out_cap, data, n);
        return;
    }
    ssize_t sent = write(fd, data, n);
    if (sent < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK) return; /* the reader notices */
        sent = 0;
    }
    if ((size_t)sent < n) {
        append(&c->out, &c->out_len, &c->out_cap, data + sent, n - sent);
        set_out_interest(fd, 1);
    }
}

static void flush_out(int fd) {
    struct client *c = clients[fd];
    ssize_t sent = write(fd, c->out, c->out_len);
    if (sent <= 0) return;
    memmove(c->out, c->out + sent, c->out_len - sent);
    c->out_len -= sent;
    if (!c->out_len) set_out_interest(fd, 0);
}

static void greet(int fd) {
    char msg[256];
    int others = n_named - 1;
    if (others)
        snprintf(msg, sizeof msg, "You are %s\nAlready here: %d others\n", clients[fd]->name, others);
    else
        snprintf(msg, sizeof msg, "You are %s\nNobody else is here\n", clients[fd]->name);
    send_to(fd, msg, strlen(msg));
}

static void on_line(int fd, char *line, size_t n) {
    struct client *c = clients[fd];
    if (!c->named) {
        size_t k = n < sizeof c->name - 1 ? n : sizeof c->name - 1;
        memcpy(c->name, line, k);
        c->name[k] = 0;
        c->named = 1;
        named[n_named++] = fd;
        greet(fd);
        return;
    }
    append(&round_buf, &round_len, &round_cap, c->name, strlen(c->name));
    append(&round_buf, &round_len, &round_cap, ": ", 2);
    append(&round_buf, &round_len, &round_cap, line, n);
    append(&round_buf, &round_len, &round_cap, "\n", 1);
}

static void on_readable(int fd) {
    struct client *c = clients[fd];
    for (;;) {
        ssize_t got = read(fd, c->in + c->in_len, sizeof c->in - c->in_len);
        if (got == 0 || (got < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
            drop(fd);
            return;
        }
        if (got < 0) return;
        c->in_len += got;
        size_t start = 0;
        for (size_t i = 0; i < c->in_len; i++)
            if (c->in[i] == '\n') {
                on_line(fd, c->in + start, i - start);
                start = i + 1;
            }
        memmove(c->in, c->in + start, c->in_len - start);
        c->in_len -= start;
        if (c->in_len == sizeof c->in) c->in_len = 0; /* an overlong line: forget it */
        if ((size_t)got < sizeof c->in) return;
    }
}

int main(void) {
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) || listen(lfd, 4096)) {
        perror("chat_floor: listen");
        return 1;
    }
    socklen_t alen = sizeof addr;
    getsockname(lfd, (struct sockaddr *)&addr, &alen);
    fprintf(stderr, "chat_floor: listening on 127.0.0.1:%d\n", ntohs(addr.sin_port));
    epfd = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd};
    epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev);
    static struct epoll_event events[1024];
    for (;;) {
        int n = epoll_wait(epfd, events, 1024, -1);
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == lfd) {
                int cfd;
                while ((cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    if (cfd >= MAX_FDS) {
                        close(cfd);
                        continue;
                    }
                    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    clients[cfd] = calloc(1, sizeof(struct client));
                    struct epoll_event cev = {.events = EPOLLIN, .data.fd = cfd};
                    epoll_ctl(epfd, EPOLL_CTL_ADD, cfd, &cev);
                }
                continue;
            }
            if (!clients[fd]) continue;
            if (events[i].events & EPOLLOUT) flush_out(fd);
            if (clients[fd] && events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(fd);
        }
        if (round_len) { /* this round's lines: one write per client */
            for (int i = 0; i < n_named; i++) send_to(named[i], round_buf, round_len);
            round_len = 0;
        }
    }
}
