// udpflood: a fast generator of identical Ethernet/IPv4/UDP frames for bench/bench.py.
//
// Each thread owns one AF_PACKET socket with a PACKET_TX_RING (TPACKET_V2) and
// PACKET_QDISC_BYPASS: the slots are filled with the frame once, so sending is
// flipping the status words of a batch of slots and one send() per batch. On a
// veth the kernel runs the receiving side (bridge, netfilter, tcpdump's
// socket, or the honeywall's ring) in softirq on the sending CPU, so the rate
// it reports is also what the path it feeds accepts from one CPU.
//
//   udpflood IFNAME DST_MAC SRC_IP DST_IP [--size 64] [--rate FPS] [--seconds S]
//            [--threads N] [--dport P] [--sport P]
//
// --rate 0 (default) = as fast as possible. Prints one JSON line:
//   {"sent": N, "seconds": S, "rate": N/S, "tx_errors": E}
// Frames carry UDP checksum 0 (allowed in IPv4) and sport+thread so each thread
// is its own 5-tuple. Needs CAP_NET_RAW. Built by bench.py with `cc -O2 -pthread`.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define SLOT 2048
#define SLOTS 4096
#define DATA_OFF 32  // TPACKET_ALIGN(sizeof(struct tpacket2_hdr))
#define BATCH 64

static uint8_t g_dst_mac[6], g_src_mac[6];
static uint32_t g_src, g_dst;
static int g_size = 64, g_threads = 1, g_ifindex;
static uint16_t g_sport = 40000, g_dport = 9;
static double g_rate = 0, g_seconds = 3;

struct worker {
  pthread_t th;
  int idx;
  uint64_t sent;
  uint64_t errors;
  int failed;
};

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static uint16_t ip_csum(const uint8_t* p, int len) {
  uint32_t s = 0;
  for (int i = 0; i < len; i += 2) s += (uint32_t)(p[i] << 8 | p[i + 1]);
  while (s >> 16) s = (s & 0xffff) + (s >> 16);
  return (uint16_t)~s;
}

static int build_frame(uint8_t* f, uint16_t sport) {
  int len = g_size < 60 ? 60 : g_size;
  memset(f, 0, (size_t)len);
  memcpy(f, g_dst_mac, 6);
  memcpy(f + 6, g_src_mac, 6);
  f[12] = 0x08;
  f[13] = 0x00;
  uint8_t* ip = f + 14;
  int ip_len = len - 14;
  ip[0] = 0x45;
  ip[2] = (uint8_t)(ip_len >> 8);
  ip[3] = (uint8_t)ip_len;
  ip[8] = 64;
  ip[9] = 17;
  memcpy(ip + 12, &g_src, 4);
  memcpy(ip + 16, &g_dst, 4);
  uint16_t c = ip_csum(ip, 20);
  ip[10] = (uint8_t)(c >> 8);
  ip[11] = (uint8_t)c;
  uint8_t* udp = ip + 20;
  int udp_len = ip_len - 20;
  udp[0] = (uint8_t)(sport >> 8);
  udp[1] = (uint8_t)sport;
  udp[2] = (uint8_t)(g_dport >> 8);
  udp[3] = (uint8_t)g_dport;
  udp[4] = (uint8_t)(udp_len >> 8);
  udp[5] = (uint8_t)udp_len;
  memset(udp + 8, 0xa5, (size_t)(udp_len - 8));
  return len;
}

static void* run_worker(void* arg) {
  struct worker* w = arg;
  int fd = socket(AF_PACKET, SOCK_RAW, 0);
  if (fd < 0) { perror("udpflood: socket(AF_PACKET)"); w->failed = 1; return NULL; }
  int v = TPACKET_V2, one = 1;
  struct tpacket_req req = {.tp_block_size = 1 << 16, .tp_block_nr = SLOTS * SLOT / (1 << 16),
                            .tp_frame_size = SLOT, .tp_frame_nr = SLOTS};
  if (setsockopt(fd, SOL_PACKET, PACKET_VERSION, &v, sizeof v) < 0 ||
      setsockopt(fd, SOL_PACKET, PACKET_QDISC_BYPASS, &one, sizeof one) < 0 ||
      setsockopt(fd, SOL_PACKET, PACKET_LOSS, &one, sizeof one) < 0 ||
      setsockopt(fd, SOL_PACKET, PACKET_TX_RING, &req, sizeof req) < 0) {
    perror("udpflood: setsockopt(PACKET_TX_RING)");
    w->failed = 1;
    return NULL;
  }
  struct sockaddr_ll sll = {.sll_family = AF_PACKET, .sll_ifindex = g_ifindex, .sll_protocol = 0};
  if (bind(fd, (struct sockaddr*)&sll, sizeof sll) < 0) { perror("udpflood: bind"); w->failed = 1; return NULL; }
  uint8_t* ring = mmap(NULL, (size_t)SLOTS * SLOT, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (ring == MAP_FAILED) { perror("udpflood: mmap"); w->failed = 1; return NULL; }
  uint8_t frame[SLOT];
  int len = build_frame(frame, (uint16_t)(g_sport + w->idx));
  for (int i = 0; i < SLOTS; i++) memcpy(ring + (size_t)i * SLOT + DATA_OFF, frame, (size_t)len);

  double t0 = now_s(), end = t0 + g_seconds;
  uint64_t n = 0;
  unsigned slot = 0;
  double per_thread_rate = g_rate / g_threads;
  for (;;) {
    if (per_thread_rate > 0) {
      double due = t0 + (double)(n + BATCH) / per_thread_rate;
      double t = now_s();
      if (due > t) {
        struct timespec ts = {(time_t)(due - t), (long)((due - t - (time_t)(due - t)) * 1e9)};
        nanosleep(&ts, NULL);
      }
    }
    for (int b = 0; b < BATCH; b++) {
      struct tpacket2_hdr* h = (struct tpacket2_hdr*)(ring + (size_t)slot * SLOT);
      while (__atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE) & (TP_STATUS_SEND_REQUEST | TP_STATUS_SENDING)) {
        if (send(fd, NULL, 0, 0) < 0 && errno != EAGAIN && errno != ENOBUFS) w->errors++;
      }
      h->tp_len = (uint32_t)len;
      __atomic_store_n(&h->tp_status, TP_STATUS_SEND_REQUEST, __ATOMIC_RELEASE);
      slot = (slot + 1) % SLOTS;
      n++;
    }
    if (send(fd, NULL, 0, 0) < 0 && errno != EAGAIN && errno != ENOBUFS) w->errors++;
    if (now_s() >= end) break;
  }
  // Hand the kernel what is still queued.
  for (int tries = 0; tries < 1000; tries++) {
    int busy = 0;
    for (int i = 0; i < SLOTS && !busy; i++) {
      struct tpacket2_hdr* h = (struct tpacket2_hdr*)(ring + (size_t)i * SLOT);
      busy = (__atomic_load_n(&h->tp_status, __ATOMIC_ACQUIRE) & (TP_STATUS_SEND_REQUEST | TP_STATUS_SENDING)) != 0;
    }
    if (!busy) break;
    send(fd, NULL, 0, 0);
  }
  w->sent = n;
  munmap(ring, (size_t)SLOTS * SLOT);
  close(fd);
  return NULL;
}

static int parse_mac(const char* s, uint8_t out[6]) {
  unsigned v[6];
  if (sscanf(s, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6) return -1;
  for (int i = 0; i < 6; i++) out[i] = (uint8_t)v[i];
  return 0;
}

int main(int argc, char** argv) {
  if (argc < 5) {
    fprintf(stderr, "usage: udpflood IFNAME DST_MAC SRC_IP DST_IP [--size N] [--rate FPS] [--seconds S] "
                    "[--threads N] [--sport P] [--dport P]\n");
    return 2;
  }
  const char* ifname = argv[1];
  if (parse_mac(argv[2], g_dst_mac) < 0 || inet_pton(AF_INET, argv[3], &g_src) != 1 ||
      inet_pton(AF_INET, argv[4], &g_dst) != 1) {
    fprintf(stderr, "udpflood: bad DST_MAC, SRC_IP or DST_IP\n");
    return 2;
  }
  for (int i = 5; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--size")) g_size = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--rate")) g_rate = atof(argv[i + 1]);
    else if (!strcmp(argv[i], "--seconds")) g_seconds = atof(argv[i + 1]);
    else if (!strcmp(argv[i], "--threads")) g_threads = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--sport")) g_sport = (uint16_t)atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--dport")) g_dport = (uint16_t)atoi(argv[i + 1]);
    else { fprintf(stderr, "udpflood: unknown option %s\n", argv[i]); return 2; }
  }
  if (g_size > 1514 || g_threads < 1 || g_threads > 64) { fprintf(stderr, "udpflood: bad --size/--threads\n"); return 2; }
  g_ifindex = (int)if_nametoindex(ifname);
  if (!g_ifindex) { fprintf(stderr, "udpflood: no interface %s\n", ifname); return 2; }
  char path[128];
  snprintf(path, sizeof path, "/sys/class/net/%s/address", ifname);
  FILE* f = fopen(path, "r");
  char mac[32] = "";
  if (!f || !fgets(mac, sizeof mac, f) || parse_mac(mac, g_src_mac) < 0) {
    fprintf(stderr, "udpflood: cannot read %s\n", path);
    return 2;
  }
  fclose(f);
  struct worker* ws = calloc((size_t)g_threads, sizeof *ws);
  double t0 = now_s();
  for (int i = 0; i < g_threads; i++) {
    ws[i].idx = i;
    pthread_create(&ws[i].th, NULL, run_worker, &ws[i]);
  }
  uint64_t sent = 0, errors = 0;
  int failed = 0;
  for (int i = 0; i < g_threads; i++) {
    pthread_join(ws[i].th, NULL);
    sent += ws[i].sent;
    errors += ws[i].errors;
    failed |= ws[i].failed;
  }
  double dt = now_s() - t0;
  printf("{\"sent\": %llu, \"seconds\": %.4f, \"rate\": %.0f, \"tx_errors\": %llu}\n", (unsigned long long)sent, dt,
         dt > 0 ? sent / dt : 0.0, (unsigned long long)errors);
  return failed ? 1 : 0;
}
