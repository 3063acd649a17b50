/*
 * fakecam: an LD_PRELOAD shim that makes one path behave like a V4L2 capture device, so the
 * real ssd-edge binary (and the real `v4l` crate inside it) can be tested without a camera.
 *
 * Built by the tests with `cc -shared -fPIC -O1 -o libfakecam.so fakecam.c -ldl -lpthread`.
 *
 * Intercepted: open/open64/openat/openat64/close for the fake path, ioctl() and
 * syscall(SYS_ioctl, ...) (the `v4l` crate's default backend calls the raw syscall), mmap /
 * mmap64 / munmap, poll, select and read. Everything else is passed to libc.
 *
 * Configuration (environment):
 *   FAKECAM_PATH     device path to fake (required)
 *   FAKECAM_FORMATS  fourccs offered, in order, e.g. "MJPG,YUYV" (default YUYV)
 *   FAKECAM_SIZES    frame sizes offered for every format, e.g. "160x120,320x240"
 *   FAKECAM_FPS      frame rates offered, e.g. "30,15" (first is the default)
 *   FAKECAM_FRAMES   directory holding frame payloads named <FOURCC>.<n> (n = 0, 1, ...),
 *                    played in a loop; bytesused is the file's length
 *   FAKECAM_CORRUPT  produced-frame numbers to spoil: MJPG is cut in half (no EOI), other
 *                    formats get V4L2_BUF_FLAG_ERROR
 *   FAKECAM_STALL    "N:MS": before producing frame N, produce nothing for MS milliseconds
 *   FAKECAM_UNPLUG   "N:MS": when frame N is due the device disappears (ENODEV on the open fd,
 *                    ENOENT on open) and comes back MS milliseconds later
 *   FAKECAM_BUSY     if set, S_FMT and REQBUFS fail with EBUSY
 *   FAKECAM_LOG      file to append a line per interesting call to (tests read it)
 *
 * Frame numbers count every frame the "sensor" produced since the process started, across
 * reconnects; frames produced while no buffer is queued are lost, as with a real driver.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/videodev2.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#define MAX_LIST 16
#define MAX_BUFS 8
#define MAX_FDS 8
#define MAX_FRAMES 64

struct buf {
    size_t len;
    uint32_t offset;
    void *addr;
    int state; /* 0 with the user, 1 queued (empty), 2 done (filled) */
    uint32_t bytesused, flags, sequence;
    struct timeval ts;
    uint64_t order; /* FIFO order of queue/done */
};

struct dev {
    int used, fd, nonblock;
    unsigned gen;
    uint32_t fourcc, width, height, fps, sizeimage;
    int nbufs, streaming;
    struct buf bufs[MAX_BUFS];
    double t0;
    uint64_t stream_produced, order;
    uint32_t sequence;
};

static pthread_mutex_t lock = PTHREAD_RECURSIVE_MUTEX_INITIALIZER_NP;
static int configured;
static const char *fake_path;
static uint32_t formats[MAX_LIST];
static int nformats;
static uint32_t sizes[MAX_LIST][2];
static int nsizes;
static uint32_t rates[MAX_LIST];
static int nrates;
static long corrupt[MAX_LIST];
static int ncorrupt;
static long stall_at = -1, stall_ms;
static long unplug_at = -1, unplug_ms;
static int busy;
static FILE *logf;
static const char *frames_dir;

static unsigned gen;            /* bumped by an unplug: older fds are dead */
static double unplugged_until;  /* open() fails before this time */
static int unplugged_once, stalled_once;
static uint64_t produced;       /* frames produced since process start */
static struct dev devs[MAX_FDS];

static struct {
    uint32_t fourcc;
    int count;
    unsigned char *data[MAX_FRAMES];
    size_t len[MAX_FRAMES];
} payloads;

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void logmsg(const char *fmt, ...) {
    if (!logf) return;
    va_list ap;
    va_start(ap, fmt);
    fprintf(logf, "%.1f ", now_ms());
    vfprintf(logf, fmt, ap);
    fputc('\n', logf);
    fflush(logf);
    va_end(ap);
}

#define REAL(name) static __typeof__(name) *real_##name
REAL(open);
REAL(open64);
REAL(openat);
REAL(openat64);
REAL(close);
REAL(ioctl);
REAL(mmap);
REAL(mmap64);
REAL(munmap);
REAL(poll);
REAL(select);
REAL(read);
static long (*real_syscall)(long, ...);

static uint32_t fourcc_of(const char *s) {
    return v4l2_fourcc(s[0], s[1], s[2], s[3]);
}

static void configure(void) {
    if (configured) return;
    configured = 1;
#define LOAD(name) real_##name = dlsym(RTLD_NEXT, #name)
    LOAD(open); LOAD(open64); LOAD(openat); LOAD(openat64); LOAD(close); LOAD(ioctl);
    LOAD(mmap); LOAD(mmap64); LOAD(munmap); LOAD(poll); LOAD(select); LOAD(read);
    real_syscall = dlsym(RTLD_NEXT, "syscall");
    fake_path = getenv("FAKECAM_PATH");
    const char *s = getenv("FAKECAM_FORMATS");
    if (!s) s = "YUYV";
    for (const char *p = s; *p && nformats < MAX_LIST;) {
        if (strlen(p) < 4) break;
        formats[nformats++] = fourcc_of(p);
        p += 4;
        if (*p == ',') p++;
    }
    s = getenv("FAKECAM_SIZES");
    if (!s) s = "640x480";
    while (s && *s && nsizes < MAX_LIST) {
        unsigned w, h;
        if (sscanf(s, "%ux%u", &w, &h) != 2) break;
        sizes[nsizes][0] = w;
        sizes[nsizes][1] = h;
        nsizes++;
        s = strchr(s, ',');
        if (s) s++;
    }
    s = getenv("FAKECAM_FPS");
    if (!s) s = "30";
    while (s && *s && nrates < MAX_LIST) {
        rates[nrates++] = (uint32_t)strtoul(s, NULL, 10);
        s = strchr(s, ',');
        if (s) s++;
    }
    s = getenv("FAKECAM_CORRUPT");
    while (s && *s && ncorrupt < MAX_LIST) {
        corrupt[ncorrupt++] = strtol(s, NULL, 10);
        s = strchr(s, ',');
        if (s) s++;
    }
    if ((s = getenv("FAKECAM_STALL"))) sscanf(s, "%ld:%ld", &stall_at, &stall_ms);
    if ((s = getenv("FAKECAM_UNPLUG"))) sscanf(s, "%ld:%ld", &unplug_at, &unplug_ms);
    busy = getenv("FAKECAM_BUSY") != NULL;
    frames_dir = getenv("FAKECAM_FRAMES");
    if ((s = getenv("FAKECAM_LOG"))) logf = fopen(s, "a");
}

__attribute__((constructor)) static void init(void) {
    pthread_mutex_lock(&lock);
    configure();
    pthread_mutex_unlock(&lock);
}

static struct dev *find(int fd) {
    if (fd < 0) return NULL;
    for (int i = 0; i < MAX_FDS; i++)
        if (devs[i].used && devs[i].fd == fd) return &devs[i];
    return NULL;
}

static int is_fake_path(const char *path) {
    return fake_path && path && strcmp(path, fake_path) == 0;
}

static int has_format(uint32_t f) {
    for (int i = 0; i < nformats; i++)
        if (formats[i] == f) return 1;
    return 0;
}

static uint32_t image_size(uint32_t f, uint32_t w, uint32_t h, uint32_t *stride) {
    switch (f) {
    case V4L2_PIX_FMT_RGB24:
    case V4L2_PIX_FMT_BGR24: *stride = w * 3; return w * h * 3;
    case V4L2_PIX_FMT_GREY: *stride = w; return w * h;
    case V4L2_PIX_FMT_NV12: *stride = w; return w * h * 3 / 2;
    case V4L2_PIX_FMT_MJPEG: *stride = 0; return w * h * 2;
    default: *stride = w * 2; return w * h * 2;
    }
}

static void load_payloads(uint32_t f) {
    if (payloads.fourcc == f && payloads.count) return;
    for (int i = 0; i < payloads.count; i++) free(payloads.data[i]);
    payloads.count = 0;
    payloads.fourcc = f;
    if (!frames_dir) return;
    char name[4096];
    for (int i = 0; i < MAX_FRAMES; i++) {
        snprintf(name, sizeof name, "%s/%c%c%c%c.%d", frames_dir, f & 0xff, (f >> 8) & 0xff,
                 (f >> 16) & 0xff, (f >> 24) & 0xff, i);
        int fd = real_open(name, O_RDONLY);
        if (fd < 0) break;
        struct stat st;
        fstat(fd, &st);
        unsigned char *d = malloc(st.st_size ? st.st_size : 1);
        size_t got = 0;
        while (got < (size_t)st.st_size) {
            ssize_t r = real_read(fd, d + got, st.st_size - got);
            if (r <= 0) break;
            got += r;
        }
        real_close(fd);
        payloads.data[i] = d;
        payloads.len[i] = got;
        payloads.count = i + 1;
    }
    logmsg("loaded %d frames for %.4s", payloads.count, (char *)&f);
}

static int is_corrupt(uint64_t n) {
    for (int i = 0; i < ncorrupt; i++)
        if ((uint64_t)corrupt[i] == n) return 1;
    return 0;
}

static int gone(struct dev *d) { return d->gen != gen; }

/* Produces every frame that is due by now: into the oldest queued buffer, or lost. */
static void advance(struct dev *d) {
    if (!d->streaming || gone(d)) return;
    double interval = 1000.0 / (d->fps ? d->fps : 30);
    double t = now_ms();
    for (;;) {
        if ((long)produced == stall_at && !stalled_once) {
            stalled_once = 1;
            d->t0 += stall_ms;
            logmsg("stall %ld ms before frame %lu", stall_ms, (unsigned long)produced);
        }
        double due = d->t0 + (d->stream_produced + 1) * interval;
        if (due > t) return;
        if ((long)produced == unplug_at && !unplugged_once) {
            unplugged_once = 1;
            gen++;
            unplugged_until = t + unplug_ms;
            logmsg("unplug at frame %lu for %ld ms", (unsigned long)produced, unplug_ms);
            return;
        }
        struct buf *b = NULL;
        for (int i = 0; i < d->nbufs; i++)
            if (d->bufs[i].state == 1 && (!b || d->bufs[i].order < b->order)) b = &d->bufs[i];
        uint64_t n = produced++;
        d->stream_produced++;
        uint32_t seq = d->sequence++;
        if (!b || !b->addr) {
            logmsg("lost frame %lu seq %u (no buffer queued)", (unsigned long)n, seq);
            continue;
        }
        size_t len = 0;
        if (payloads.count) {
            int k = n % payloads.count;
            len = payloads.len[k] < b->len ? payloads.len[k] : b->len;
            memcpy(b->addr, payloads.data[k], len);
        }
        /* Stale bytes after bytesused, as real drivers leave them. */
        memset((char *)b->addr + len, 0xA5, b->len - len);
        b->flags = 0;
        if (is_corrupt(n)) {
            if (d->fourcc == V4L2_PIX_FMT_MJPEG) len /= 2;
            else b->flags = V4L2_BUF_FLAG_ERROR;
        }
        b->bytesused = len;
        b->sequence = seq;
        double ts = d->t0 + d->stream_produced * interval;
        b->ts.tv_sec = (time_t)(ts / 1000);
        b->ts.tv_usec = (suseconds_t)((ts - b->ts.tv_sec * 1000.0) * 1000);
        b->state = 2;
        b->order = d->order++;
        logmsg("frame %lu seq %u -> buffer %ld bytes %zu%s", (unsigned long)n, seq,
               (long)(b - d->bufs), len, is_corrupt(n) ? " corrupt" : "");
    }
}

static double next_due(struct dev *d) {
    double interval = 1000.0 / (d->fps ? d->fps : 30);
    double extra = ((long)produced == stall_at && !stalled_once) ? stall_ms : 0;
    return d->t0 + extra + (d->stream_produced + 1) * interval;
}

static int done_count(struct dev *d) {
    int n = 0;
    for (int i = 0; i < d->nbufs; i++) n += d->bufs[i].state == 2;
    return n;
}

static void fill_pix(struct dev *d, struct v4l2_pix_format *p) {
    memset(p, 0, sizeof *p);
    p->width = d->width;
    p->height = d->height;
    p->pixelformat = d->fourcc;
    p->field = V4L2_FIELD_NONE;
    p->sizeimage = image_size(d->fourcc, d->width, d->height, &p->bytesperline);
    p->colorspace = d->fourcc == V4L2_PIX_FMT_MJPEG ? V4L2_COLORSPACE_JPEG : V4L2_COLORSPACE_SRGB;
}

static void fill_buf(struct dev *d, int i, struct v4l2_buffer *v) {
    struct buf *b = &d->bufs[i];
    uint32_t type = v->type;
    memset(v, 0, sizeof *v);
    v->index = i;
    v->type = type;
    v->memory = V4L2_MEMORY_MMAP;
    v->m.offset = b->offset;
    v->length = b->len;
    v->bytesused = b->state == 2 || b->state == 0 ? b->bytesused : 0;
    v->flags = (b->addr ? V4L2_BUF_FLAG_MAPPED : 0) | (b->state == 1 ? V4L2_BUF_FLAG_QUEUED : 0) |
               (b->state == 2 ? V4L2_BUF_FLAG_DONE : 0) | b->flags | V4L2_BUF_FLAG_TIMESTAMP_MONOTONIC;
    v->field = V4L2_FIELD_NONE;
    v->sequence = b->sequence;
    v->timestamp = b->ts;
}

static int fail(int e) {
    errno = e;
    return -1;
}

static int nearest_rate(uint32_t fps) {
    uint32_t best = rates[0];
    for (int i = 0; i < nrates; i++)
        if (abs((int)rates[i] - (int)fps) < abs((int)best - (int)fps)) best = rates[i];
    return best;
}

static int fake_ioctl(struct dev *d, unsigned long req, void *arg) {
    if (gone(d)) {
        logmsg("ioctl %#lx -> ENODEV", req);
        return fail(ENODEV);
    }
    switch (req) {
    case VIDIOC_QUERYCAP: {
        struct v4l2_capability *c = arg;
        memset(c, 0, sizeof *c);
        strcpy((char *)c->driver, "fakecam");
        strcpy((char *)c->card, "Fake Camera");
        strcpy((char *)c->bus_info, "platform:fakecam");
        c->version = ((6 << 16) | (1 << 8));
        c->device_caps = V4L2_CAP_VIDEO_CAPTURE | V4L2_CAP_STREAMING;
        c->capabilities = c->device_caps | V4L2_CAP_DEVICE_CAPS;
        return 0;
    }
    case VIDIOC_ENUM_FMT: {
        struct v4l2_fmtdesc *f = arg;
        if (f->type != V4L2_BUF_TYPE_VIDEO_CAPTURE || f->index >= (uint32_t)nformats) return fail(EINVAL);
        uint32_t idx = f->index, type = f->type;
        memset(f, 0, sizeof *f);
        f->index = idx;
        f->type = type;
        f->pixelformat = formats[idx];
        f->flags = formats[idx] == V4L2_PIX_FMT_MJPEG ? V4L2_FMT_FLAG_COMPRESSED : 0;
        snprintf((char *)f->description, sizeof f->description, "Fake %.4s", (char *)&formats[idx]);
        return 0;
    }
    case VIDIOC_ENUM_FRAMESIZES: {
        struct v4l2_frmsizeenum *s = arg;
        if (!has_format(s->pixel_format) || s->index >= (uint32_t)nsizes) return fail(EINVAL);
        s->type = V4L2_FRMSIZE_TYPE_DISCRETE;
        s->discrete.width = sizes[s->index][0];
        s->discrete.height = sizes[s->index][1];
        return 0;
    }
    case VIDIOC_ENUM_FRAMEINTERVALS: {
        struct v4l2_frmivalenum *v = arg;
        int ok = 0;
        for (int i = 0; i < nsizes; i++) ok |= sizes[i][0] == v->width && sizes[i][1] == v->height;
        if (!has_format(v->pixel_format) || !ok || v->index >= (uint32_t)nrates) return fail(EINVAL);
        v->type = V4L2_FRMIVAL_TYPE_DISCRETE;
        v->discrete.numerator = 1;
        v->discrete.denominator = rates[v->index];
        return 0;
    }
    case VIDIOC_G_FMT: {
        struct v4l2_format *f = arg;
        if (f->type != V4L2_BUF_TYPE_VIDEO_CAPTURE) return fail(EINVAL);
        fill_pix(d, &f->fmt.pix);
        return 0;
    }
    case VIDIOC_S_FMT:
    case VIDIOC_TRY_FMT: {
        struct v4l2_format *f = arg;
        if (f->type != V4L2_BUF_TYPE_VIDEO_CAPTURE) return fail(EINVAL);
        if (req == VIDIOC_S_FMT && (busy || d->nbufs)) return fail(EBUSY);
        uint32_t pf = has_format(f->fmt.pix.pixelformat) ? f->fmt.pix.pixelformat : formats[0];
        int best = 0;
        long bestd = -1;
        for (int i = 0; i < nsizes; i++) {
            long dd = labs((long)sizes[i][0] * sizes[i][1] - (long)f->fmt.pix.width * f->fmt.pix.height);
            if (bestd < 0 || dd < bestd) bestd = dd, best = i;
        }
        struct dev tmp = *d;
        tmp.fourcc = pf;
        tmp.width = sizes[best][0];
        tmp.height = sizes[best][1];
        fill_pix(&tmp, &f->fmt.pix);
        if (req == VIDIOC_S_FMT) {
            d->fourcc = tmp.fourcc;
            d->width = tmp.width;
            d->height = tmp.height;
            logmsg("S_FMT %.4s %ux%u", (char *)&pf, d->width, d->height);
        }
        return 0;
    }
    case VIDIOC_G_PARM:
    case VIDIOC_S_PARM: {
        struct v4l2_streamparm *p = arg;
        if (p->type != V4L2_BUF_TYPE_VIDEO_CAPTURE) return fail(EINVAL);
        if (req == VIDIOC_S_PARM && p->parm.capture.timeperframe.numerator)
            d->fps = nearest_rate(p->parm.capture.timeperframe.denominator /
                                  p->parm.capture.timeperframe.numerator);
        memset(&p->parm, 0, sizeof p->parm);
        p->parm.capture.capability = V4L2_CAP_TIMEPERFRAME;
        p->parm.capture.timeperframe.numerator = 1;
        p->parm.capture.timeperframe.denominator = d->fps;
        return 0;
    }
    case VIDIOC_REQBUFS: {
        struct v4l2_requestbuffers *r = arg;
        if (r->type != V4L2_BUF_TYPE_VIDEO_CAPTURE || r->memory != V4L2_MEMORY_MMAP) return fail(EINVAL);
        if (busy) return fail(EBUSY);
        if (d->streaming) return fail(EBUSY);
        for (int i = 0; i < d->nbufs; i++)
            if (d->bufs[i].addr) return fail(EBUSY); /* still mapped */
        memset(d->bufs, 0, sizeof d->bufs);
        d->nbufs = 0;
        if (r->count == 0) return 0;
        uint32_t n = r->count < 2 ? 2 : r->count > MAX_BUFS ? MAX_BUFS : r->count;
        uint32_t stride, size = image_size(d->fourcc, d->width, d->height, &stride);
        uint32_t page = 4096, slot = (size + page - 1) / page * page;
        for (uint32_t i = 0; i < n; i++) {
            d->bufs[i].len = size;
            d->bufs[i].offset = i * slot;
        }
        d->nbufs = n;
        r->count = n;
        load_payloads(d->fourcc);
        logmsg("REQBUFS %u", n);
        return 0;
    }
    case VIDIOC_QUERYBUF: {
        struct v4l2_buffer *v = arg;
        if (v->index >= (uint32_t)d->nbufs) return fail(EINVAL);
        fill_buf(d, v->index, v);
        return 0;
    }
    case VIDIOC_QBUF: {
        struct v4l2_buffer *v = arg;
        if (v->index >= (uint32_t)d->nbufs || v->memory != V4L2_MEMORY_MMAP) return fail(EINVAL);
        struct buf *b = &d->bufs[v->index];
        if (b->state != 0) {
            logmsg("QBUF %u -> EINVAL (already queued)", v->index);
            return fail(EINVAL);
        }
        b->state = 1;
        b->order = d->order++;
        return 0;
    }
    case VIDIOC_DQBUF: {
        struct v4l2_buffer *v = arg;
        if (!d->streaming) return fail(EINVAL);
        advance(d);
        if (gone(d)) return fail(ENODEV);
        struct buf *b = NULL;
        for (int i = 0; i < d->nbufs; i++)
            if (d->bufs[i].state == 2 && (!b || d->bufs[i].order < b->order)) b = &d->bufs[i];
        if (!b) return fail(EAGAIN);
        b->state = 0;
        fill_buf(d, (int)(b - d->bufs), v);
        logmsg("DQBUF %ld seq %u", (long)(b - d->bufs), b->sequence);
        return 0;
    }
    case VIDIOC_STREAMON:
        if (!d->nbufs) return fail(EINVAL);
        d->streaming = 1;
        d->t0 = now_ms();
        d->stream_produced = 0;
        d->sequence = 0;
        logmsg("STREAMON %.4s %ux%u @%u", (char *)&d->fourcc, d->width, d->height, d->fps);
        return 0;
    case VIDIOC_STREAMOFF:
        d->streaming = 0;
        for (int i = 0; i < d->nbufs; i++) d->bufs[i].state = 0;
        logmsg("STREAMOFF");
        return 0;
    default:
        return fail(ENOTTY);
    }
}

static int fake_open(const char *path, int flags) {
    configure();
    double t = now_ms();
    if (t < unplugged_until) {
        logmsg("open %s -> ENOENT (unplugged)", path);
        return fail(ENOENT);
    }
    for (int i = 0; i < MAX_FDS; i++) {
        if (devs[i].used) continue;
        int fd = real_open("/dev/null", O_RDWR | O_CLOEXEC);
        if (fd < 0) return -1;
        memset(&devs[i], 0, sizeof devs[i]);
        devs[i].used = 1;
        devs[i].fd = fd;
        devs[i].nonblock = (flags & O_NONBLOCK) != 0;
        devs[i].gen = gen;
        devs[i].fourcc = formats[0];
        devs[i].width = sizes[0][0];
        devs[i].height = sizes[0][1];
        devs[i].fps = rates[0];
        logmsg("open %s -> fd %d", path, fd);
        return fd;
    }
    return fail(EMFILE);
}

#define OPEN_BODY(realcall)                                                                    \
    mode_t mode = 0;                                                                           \
    if (flags & (O_CREAT | O_TMPFILE)) {                                                       \
        va_list ap;                                                                            \
        va_start(ap, flags);                                                                   \
        mode = va_arg(ap, mode_t);                                                             \
        va_end(ap);                                                                            \
    }                                                                                          \
    pthread_mutex_lock(&lock);                                                                 \
    configure();                                                                               \
    if (is_fake_path(path)) {                                                                  \
        int r = fake_open(path, flags);                                                        \
        pthread_mutex_unlock(&lock);                                                           \
        return r;                                                                              \
    }                                                                                          \
    pthread_mutex_unlock(&lock);                                                               \
    return realcall;

int open(const char *path, int flags, ...) { OPEN_BODY(real_open(path, flags, mode)) }
int open64(const char *path, int flags, ...) { OPEN_BODY(real_open64(path, flags, mode)) }
int openat(int dirfd, const char *path, int flags, ...) {
    OPEN_BODY(real_openat(dirfd, path, flags, mode))
}
int openat64(int dirfd, const char *path, int flags, ...) {
    OPEN_BODY(real_openat64(dirfd, path, flags, mode))
}

int close(int fd) {
    pthread_mutex_lock(&lock);
    configure();
    struct dev *d = find(fd);
    if (d) {
        logmsg("close fd %d", fd);
        d->used = 0;
    }
    pthread_mutex_unlock(&lock);
    return real_close(fd);
}

int ioctl(int fd, unsigned long req, ...) {
    va_list ap;
    va_start(ap, req);
    void *arg = va_arg(ap, void *);
    va_end(ap);
    pthread_mutex_lock(&lock);
    configure();
    struct dev *d = find(fd);
    if (d) {
        int r = fake_ioctl(d, req, arg);
        pthread_mutex_unlock(&lock);
        return r;
    }
    pthread_mutex_unlock(&lock);
    return real_ioctl(fd, req, arg);
}

long syscall(long n, ...) {
    va_list ap;
    va_start(ap, n);
    long a1 = va_arg(ap, long), a2 = va_arg(ap, long), a3 = va_arg(ap, long);
    long a4 = va_arg(ap, long), a5 = va_arg(ap, long), a6 = va_arg(ap, long);
    va_end(ap);
    if (n == SYS_ioctl) {
        pthread_mutex_lock(&lock);
        configure();
        struct dev *d = find((int)a1);
        if (d) {
            int r = fake_ioctl(d, (unsigned long)a2, (void *)a3);
            pthread_mutex_unlock(&lock);
            return r;
        }
        pthread_mutex_unlock(&lock);
    }
    if (!real_syscall) real_syscall = dlsym(RTLD_NEXT, "syscall");
    return real_syscall(n, a1, a2, a3, a4, a5, a6);
}

static void *fake_mmap(struct dev *d, size_t len, off_t off) {
    if (gone(d)) {
        errno = ENODEV;
        return MAP_FAILED;
    }
    for (int i = 0; i < d->nbufs; i++) {
        struct buf *b = &d->bufs[i];
        if (b->offset == (uint32_t)off && len <= b->len && !b->addr) {
            b->addr = real_mmap(NULL, b->len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
            if (b->addr == MAP_FAILED) {
                b->addr = NULL;
                return MAP_FAILED;
            }
            return b->addr;
        }
    }
    errno = EINVAL;
    return MAP_FAILED;
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off) {
    pthread_mutex_lock(&lock);
    configure();
    struct dev *d = find(fd);
    if (d) {
        void *r = fake_mmap(d, len, off);
        pthread_mutex_unlock(&lock);
        return r;
    }
    pthread_mutex_unlock(&lock);
    return real_mmap(addr, len, prot, flags, fd, off);
}

void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off64_t off) {
    pthread_mutex_lock(&lock);
    configure();
    struct dev *d = find(fd);
    if (d) {
        void *r = fake_mmap(d, len, off);
        pthread_mutex_unlock(&lock);
        return r;
    }
    pthread_mutex_unlock(&lock);
    return real_mmap64(addr, len, prot, flags, fd, off);
}

int munmap(void *addr, size_t len) {
    pthread_mutex_lock(&lock);
    configure();
    for (int i = 0; i < MAX_FDS; i++)
        for (int j = 0; devs[i].used && j < devs[i].nbufs; j++)
            if (devs[i].bufs[j].addr == addr) devs[i].bufs[j].addr = NULL;
    pthread_mutex_unlock(&lock);
    return real_munmap(addr, len);
}

/* Readiness of a fake fd: POLLIN when a filled buffer waits, POLLERR when unplugged or not
 * streaming (as the kernel reports). Returns 0 when nothing yet. */
static short fake_revents(struct dev *d) {
    if (gone(d)) return POLLERR | POLLHUP;
    if (!d->streaming) return POLLERR;
    advance(d);
    if (gone(d)) return POLLERR | POLLHUP;
    return done_count(d) ? (POLLIN | POLLRDNORM) : 0;
}

int poll(struct pollfd *fds, nfds_t n, int timeout) {
    pthread_mutex_lock(&lock);
    configure();
    struct dev *d = n == 1 ? find(fds[0].fd) : NULL;
    if (!d) {
        pthread_mutex_unlock(&lock);
        return real_poll(fds, n, timeout);
    }
    logmsg("poll timeout %d", timeout);
    double deadline = timeout < 0 ? -1 : now_ms() + timeout;
    for (;;) {
        short ev = fake_revents(d);
        if (ev) {
            fds[0].revents = ev & (fds[0].events | POLLERR | POLLHUP);
            pthread_mutex_unlock(&lock);
            return 1;
        }
        double t = now_ms();
        if (deadline >= 0 && t >= deadline) {
            fds[0].revents = 0;
            pthread_mutex_unlock(&lock);
            return 0;
        }
        double wake = next_due(d);
        if (deadline >= 0 && deadline < wake) wake = deadline;
        double ms = wake - t;
        if (ms < 0.05) ms = 0.05;
        if (ms > 50) ms = 50;
        pthread_mutex_unlock(&lock);
        struct timespec ts = {(time_t)(ms / 1000), (long)((ms - (long)(ms / 1000) * 1000) * 1e6)};
        nanosleep(&ts, NULL);
        pthread_mutex_lock(&lock);
        if (!find(fds[0].fd)) { /* closed meanwhile */
            pthread_mutex_unlock(&lock);
            return fail(EBADF);
        }
    }
}

int select(int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *tv) {
    pthread_mutex_lock(&lock);
    configure();
    struct dev *d = NULL;
    for (int fd = 0; fd < n && !d; fd++)
        if (r && FD_ISSET(fd, r)) d = find(fd);
    pthread_mutex_unlock(&lock);
    if (!d) return real_select(n, r, w, e, tv);
    struct pollfd p = {d->fd, POLLIN, 0};
    int ms = tv ? (int)(tv->tv_sec * 1000 + tv->tv_usec / 1000) : -1;
    int got = poll(&p, 1, ms);
    if (got <= 0) {
        if (r) FD_ZERO(r);
        if (w) FD_ZERO(w);
        if (e) FD_ZERO(e);
        return got;
    }
    int fd = p.fd;
    if (r) FD_ZERO(r);
    if (w) FD_ZERO(w);
    if (e) FD_ZERO(e);
    if (p.revents & POLLIN && r) FD_SET(fd, r);
    if (p.revents & POLLERR && e) FD_SET(fd, e);
    return 1;
}

ssize_t read(int fd, void *buf, size_t len) {
    pthread_mutex_lock(&lock);
    configure();
    struct dev *d = find(fd);
    pthread_mutex_unlock(&lock);
    if (d) return fail(gone(d) ? ENODEV : EINVAL); /* streaming I/O only, like most UVC drivers */
    return real_read(fd, buf, len);
}
