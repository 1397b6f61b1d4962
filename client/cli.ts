// Placeholder entry point until the client issue lands; replaced by the commander program.
console.log('fastchat 0.1.0');
