"""What a file says about its own origin: Content Credentials (C2PA), IPTC DigitalSourceType,
credit lines, and generator metadata (SD WebUI, ComfyUI, InvokeAI, NovelAI, stealth low-bit
payloads, Midjourney, DALL-E).
May import: media. Not embedding (a peer), nor anything above.
"""
