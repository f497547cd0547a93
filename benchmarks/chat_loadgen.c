/* chat_loadgen: one load worker of benchmarks/chat_load, in C (`--loadgen c`).
 *
 * The same work as chat_load.worker, for the same clients and schedule, at a fraction of the
 * CPU: on a 2-core machine the Python workers need more than a core at 1,000 clients x 200
 * msg/s, and the server then waits for CPU as much as it works. Talks to chat_load over
 * stdin/stdout, one line each way:
 *
 *     chat_loadgen PORT LO HI CLIENTS RATE DURATION PATIENCE
 *     -> "ready"                  every client LO..HI-1 has been told who is in the room
 *     <- "go START_NS"            CLOCK_MONOTONIC, as Python's time.monotonic_ns()
 *     -> "done DELIVERED EXPECTED WORST_NS NOTIFIED UNSENT CPU READS", then "h BUCKET COUNT"
 *        lines (10 us buckets) and "end"
 *     <- "close"                  then it closes its sockets and exits
 *     -> "error TEXT"             instead of any of the above
 */
#define _GNU_SOURCE
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
#include <time.h>
#include <unistd.h>

#define BUCKET_NS 10000
#define BUCKETS (1 << 20) /* 10 s of 10 us buckets; later ones go in the last */
#define READ_SIZE 65536

struct conn {
    int fd, index;
    char name[16];
    size_t name_len;
    char buf[READ_SIZE * 2];
    size_t len;
    int joined;
};

static struct conn *conns;
static int nconns, epfd;
static unsigned *hist;
static long long delivered, worst, notified, reads;
static int timing; /* count deliveries (after "go") */

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static double cpu_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int starts(const char *line, size_t n, const char *prefix) {
    size_t k = strlen(prefix);
    return n >= k && memcmp(line, prefix, k) == 0;
}

static void on_line(struct conn *c, const char *line, size_t n, long long now, int *joined_now) {
    if (!c->joined) {
        if (starts(line, n, "Already here") || starts(line, n, "Nobody else is here")) {
            c->joined = 1;
            ++*joined_now;
        }
        return;
    }
    if (!timing) return;
    if (n && line[0] == '(') { /* "(N messages dropped: ...)" */
        char *end;
        long long k = strtoll(line + 1, &end, 10);
        if (end != line + 1 && starts(end, n - (end - line), " messages dropped")) notified += k;
        return;
    }
    /* "cS: m K SENT_NS", not from this client */
    const char *colon = memchr(line, ':', n);
    if (!colon || line[0] != 'c' || !starts(colon, n - (colon - line), ": m ")) return;
    if ((size_t)(colon - line) == c->name_len && memcmp(line, c->name, c->name_len) == 0) return;
    const char *p = colon + 4, *stop = line + n;
    while (p < stop && *p != ' ') p++; /* K */
    if (p >= stop) return;
    long long sent = 0;
    for (p++; p < stop && *p >= '0' && *p <= '9'; p++) sent = sent * 10 + (*p - '0');
    long long lat = now - sent;
    if (lat < 0) lat = 0;
    long long b = lat / BUCKET_NS;
    hist[b < BUCKETS ? b : BUCKETS - 1]++;
    if (lat > worst) worst = lat;
    delivered++;
}

/* Wait up to timeout_ms; read what is ready; 1 if stdin has a line for us. */
static int pump(int timeout_ms, int *joined_now) {
    struct epoll_event evs[256];
    int n = epoll_wait(epfd, evs, 256, timeout_ms);
    int control = 0;
    for (int i = 0; i < n; i++) {
        if (evs[i].data.u32 == (unsigned)-1) {
            control = 1;
            continue;
        }
        struct conn *c = &conns[evs[i].data.u32];
        ssize_t got = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
        if (got <= 0) {
            if (got < 0 && (errno == EAGAIN || errno == EINTR)) continue;
            epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
            continue;
        }
        long long now = now_ns();
        if (timing) reads++;
        c->len += got;
        size_t start = 0;
        for (;;) {
            char *nl = memchr(c->buf + start, '\n', c->len - start);
            if (!nl) break;
            on_line(c, c->buf + start, nl - (c->buf + start), now, joined_now);
            start = nl - c->buf + 1;
        }
        memmove(c->buf, c->buf + start, c->len - start);
        c->len -= start;
        if (c->len == sizeof c->buf) c->len = 0; /* a line longer than we care about */
    }
    return control;
}

static int ms_until(long long due) {
    long long left = due - now_ns();
    return left <= 0 ? 0 : (int)((left + 999999) / 1000000);
}

static int read_control(char *line, size_t cap) {
    if (!fgets(line, cap, stdin)) return 0;
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 8) {
        fprintf(stderr, "usage: chat_loadgen PORT LO HI CLIENTS RATE DURATION PATIENCE\n");
        return 2;
    }
    int port = atoi(argv[1]), lo = atoi(argv[2]), hi = atoi(argv[3]), clients = atoi(argv[4]);
    double rate = atof(argv[5]), duration = atof(argv[6]), patience = atof(argv[7]);
    setvbuf(stdout, NULL, _IOLBF, 0);
    setvbuf(stdin, NULL, _IONBF, 0); /* epoll watches fd 0: no line may hide in stdio */
    hist = calloc(BUCKETS, sizeof *hist);
    nconns = hi - lo;
    conns = calloc(nconns, sizeof *conns);
    epfd = epoll_create1(0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    for (int i = 0; i < nconns; i++) {
        struct conn *c = &conns[i];
        c->index = lo + i;
        c->name_len = snprintf(c->name, sizeof c->name, "c%d", c->index);
        c->fd = socket(AF_INET, SOCK_STREAM, 0);
        if (connect(c->fd, (struct sockaddr *)&addr, sizeof addr)) {
            printf("error connect: %s\n", strerror(errno));
            return 1;
        }
        char hello[32];
        int k = snprintf(hello, sizeof hello, "%s\n", c->name);
        if (send(c->fd, hello, k, 0) != k) {
            printf("error sending a name\n");
            return 1;
        }
        fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
        struct epoll_event ev = {.events = EPOLLIN, .data.u32 = i};
        epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
    }
    struct epoll_event cev = {.events = EPOLLIN, .data.u32 = (unsigned)-1};
    epoll_ctl(epfd, EPOLL_CTL_ADD, 0, &cev);

    int joined = 0;
    long long give_up = now_ns() + 60000000000LL;
    while (joined < nconns) {
        if (now_ns() > give_up) {
            printf("error %d of %d clients never joined\n", nconns - joined, nconns);
            return 1;
        }
        pump(50, &joined);
    }
    printf("ready\n");
    char line[256];
    for (;;) { /* others join, a flood passes: drain until told to start */
        if (pump(50, &joined)) break;
    }
    if (!read_control(line, sizeof line)) return 1;
    long long start = strtoll(line + 3, NULL, 10);
    while (now_ns() < start) pump(ms_until(start), &joined);

    long long total = (long long)(rate * duration);
    long long mine = 0, unsent = 0;
    double cpu0 = cpu_s();
    long long t0 = now_ns();
    timing = 1;
    for (long long k = 0; k < total; k++) {
        int owner = (int)(k % clients);
        if (owner < lo || owner >= hi) continue;
        mine++;
        long long due = start + (long long)(k * 1e9 / rate);
        while (now_ns() < due) pump(ms_until(due), &joined);
        char msg[64];
        int n = snprintf(msg, sizeof msg, "m %lld %lld\n", k, now_ns());
        if (send(conns[owner - lo].fd, msg, n, 0) != n) unsent++;
    }
    long long end = start + (long long)(total * 1e9 / rate);
    while (now_ns() < end) pump(ms_until(end), &joined);
    long long expected = total * nconns - mine;
    long long patience_ns = (long long)(patience * 1e9);
    long long last_chance = now_ns() + 10 * patience_ns, quiet_since = now_ns(), seen = delivered;
    while (delivered < expected && now_ns() < last_chance && now_ns() < quiet_since + patience_ns) {
        pump(50, &joined);
        if (delivered > seen) {
            quiet_since = now_ns();
            seen = delivered;
        }
    }
    double elapsed = (now_ns() - t0) / 1e9;
    printf("done %lld %lld %lld %lld %lld %.4f %lld\n", delivered, expected, worst, notified,
           unsent, (cpu_s() - cpu0) / elapsed, reads);
    for (int b = 0; b < BUCKETS; b++)
        if (hist[b]) printf("h %d %u\n", b, hist[b]);
    printf("end\n");
    read_control(line, sizeof line); /* "close" */
    for (int i = 0; i < nconns; i++) close(conns[i].fd);
    return 0;
}
