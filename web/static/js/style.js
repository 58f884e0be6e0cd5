// Colours and short names shared by the map and the panels.

const TEAM_COLORS = { 2: "#ff4d5e", 3: "#4d8dff", 4: "#8a93a6" }; // red, blue, spectator
const FFA_COLORS = ["#ffb347", "#6ee7b7", "#c084fc", "#f472b6", "#facc15", "#38bdf8", "#fb7185", "#a3e635",
                    "#f97316", "#2dd4bf", "#e879f9", "#60a5fa"];

export function colorOf(player) {
  return TEAM_COLORS[player.team] || FFA_COLORS[player.client % FFA_COLORS.length];
}

export const WEAPON_SHORT = ["", "gauntlet", "MG", "shotgun", "GL", "RL", "LG", "rail", "plasma", "BFG", "hook",
                             "nailgun", "prox", "chaingun"];

export const MOD_SHORT = ["?", "shotgun", "gauntlet", "MG", "grenade", "grenade", "rocket", "rocket", "plasma",
                          "plasma", "rail", "lightning", "BFG", "BFG", "water", "slime", "lava", "crushed",
                          "telefrag", "fall", "suicide", "laser", "hurt", "nail", "chaingun", "mine", "kamikaze",
                          "juiced", "hook"];

const ITEM_TYPE_COLORS = { 2: "#ff9f43", 3: "#d6c36b", 4: "#e5e7eb", 5: "#3ddc84", 6: "#b26bff", 7: "#ff6bd6",
                           8: "#b26bff" };

export function itemColor(entity) {
  if (entity.item === "team_CTF_redflag") return "#ff4d5e";
  if (entity.item === "team_CTF_blueflag") return "#4d8dff";
  if (entity.item.startsWith("item_armor")) return "#ffd24d";
  if (entity.item === "item_health_mega") return "#7dd3fc";
  return ITEM_TYPE_COLORS[entity.item_type] || "#cbd5e1";
}

export function gameTime(ms) {
  const s = Math.max(0, ms) / 1000;
  const m = Math.floor(s / 60);
  return `${m}:${(s - m * 60).toFixed(1).padStart(4, "0")}`;
}

export function escapeHtml(text) {
  return String(text).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}
