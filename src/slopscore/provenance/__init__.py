"""What a file says about its own origin: Content Credentials (C2PA), IPTC
DigitalSourceType, and generator metadata (SD WebUI, ComfyUI, NovelAI, Midjourney, DALL-E).
May import: media. Not embedding (a peer), nor anything above.
"""
