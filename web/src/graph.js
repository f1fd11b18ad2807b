// The small live tokens/s line drawn while an answer streams: one point per quarter second.

export class RateGraph {
  constructor(canvas) {
    this.canvas = canvas;
    this.points = [];
  }

  reset() {
    this.points = [];
    this.draw();
  }

  add(tokensPerSecond) {
    this.points.push(tokensPerSecond);
    if (this.points.length > 60) this.points.shift();
    this.draw();
  }

  draw() {
    const { canvas } = this;
    const ctx = canvas.getContext('2d');
    if (!ctx) return;
    const w = canvas.width;
    const h = canvas.height;
    ctx.clearRect(0, 0, w, h);
    if (this.points.length < 2) return;
    const top = Math.max(1, ...this.points);
    ctx.strokeStyle = getComputedStyle(canvas).color;
    ctx.lineWidth = 1.5;
    ctx.beginPath();
    this.points.forEach((v, i) => {
      const x = (i / (this.points.length - 1)) * (w - 2) + 1;
      const y = h - 1 - (v / top) * (h - 2);
      if (i === 0) ctx.moveTo(x, y);
      else ctx.lineTo(x, y);
    });
    ctx.stroke();
  }
}
