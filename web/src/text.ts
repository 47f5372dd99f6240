/** Words for what the services say, written for people (kind, plain, never blaming). */

export type PostStatus = "pending" | "published" | "held" | "removed";

const REASONS: Record<string, string> = {
  abuse: "it may read as aimed at another person",
  threat: "it may read as a threat",
  safety_review: "a moderator wants to check it is safe for the community",
  automated_review_unavailable: "our automatic check is unavailable, so a person will look at it",
  reports: "several members reported it, so a moderator will look at it",
  remove: "a moderator removed it",
  sourcing: "it may be about buying, selling or trading drugs",
  privacy: "it may share someone's personal details",
  watched: "it contains words this community asks a moderator to check",
  spam: "it looks like spam",
  harassment: "harassment",
  hate: "hate",
  graphic_method_detail: "graphic detail that could put someone at risk",
  misinformation: "misinformation",
  other: "another reason",
};

export function reasonText(code: string): string {
  return REASONS[code] ?? code.replace(/_/g, " ");
}

export interface StatusView { label: string; tone: "info" | "ok" | "warn" | "bad"; explanation: string }

/** How a post's state is shown to its author: honest about what happens next. */
export function describeStatus(status: PostStatus, reasons: unknown[] = [], removalReason?: string | null): StatusView {
  const codes = reasons.map((r) => (typeof r === "string" ? r : (r as any)?.code)).filter(Boolean) as string[];
  switch (status) {
    case "pending":
      return { label: "Checking…", tone: "info", explanation: "Only you can see this until our safety check finishes (usually a second or two)." };
    case "published":
      return { label: "Published", tone: "ok", explanation: "Everyone in the community can see this." };
    case "held": {
      const why = codes.filter((c) => c !== "crisis").map(reasonText);
      return { label: "Waiting for a moderator", tone: "warn",
               explanation: `Only you can see this for now${why.length ? ` because ${why.join("; ")}` : ""}. A moderator will review it.` };
    }
    case "removed": {
      const why = removalReason ? reasonText(removalReason) : codes.filter((c) => c !== "remove").map(reasonText).join("; ");
      return { label: "Removed", tone: "bad",
               explanation: `This post was removed${why ? ` for ${why}` : ""}. Only you can see it. You can appeal once.` };
    }
  }
}

const NOTICES: Record<string, string> = {
  "post.held": "Your post is waiting for a moderator.",
  "post.removed": "Your post was removed.",
  "post.redacted": "A moderator edited your post.",
  "post.restored": "Your post is published again.",
  "report.handled": "Thank you: a moderator handled your report.",
  "account.warning": "A moderator sent you a warning.",
  "account.suspended": "Your account is suspended for now.",
  "queue.item_held": "A post is waiting in the review queue.",
  "queue.report_threshold": "Reports hid a post: it needs review.",
  "queue.appeal": "An author appealed a removal.",
  "crisis.escalation": "New crisis escalation.",
  "crisis.repage": "An escalation is still waiting for someone.",
  "crisis.acknowledged": "An escalation was acknowledged.",
  "support.resources": "You're not alone: support is here.",
  "support.outreach": "A message from our support team.",
  "reply.published": "Someone replied in your thread.",
  "reaction.added": "Someone sent support on your post.",
  "webhook.disabled": "A webhook endpoint was disabled.",
};

export function noticeText(type: string): string {
  return NOTICES[type] ?? type;
}

export function timeAgo(iso: string, now = Date.now()): string {
  const seconds = Math.max(0, Math.round((now - Date.parse(iso)) / 1000));
  if (seconds < 60) return "just now";
  const minutes = Math.round(seconds / 60);
  if (minutes < 60) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  if (hours < 48) return `${hours} h ago`;
  return `${Math.round(hours / 24)} days ago`;
}
