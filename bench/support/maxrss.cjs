// Preloaded (node -r) into a child whose peak memory a benchmark wants: at exit, writes the
// process's peak RSS and final heap to the file named by BENCH_RSS_FILE.
'use strict';
const { writeFileSync } = require('node:fs');

const file = process.env.BENCH_RSS_FILE;
if (file) {
  process.on('exit', (code) => {
    const usage = process.resourceUsage();
    const cpu = process.cpuUsage();
    writeFileSync(
      file,
      JSON.stringify({
        code,
        maxRssBytes: usage.maxRSS * 1024,
        heapUsedBytes: process.memoryUsage().heapUsed,
        cpuMs: (cpu.user + cpu.system) / 1000,
        uptimeMs: process.uptime() * 1000,
      }),
    );
  });
}
