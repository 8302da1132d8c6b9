// Package layout holds no code, only the test of the workbook's shape,
// which README.md states: each chapter folder stands alone, importing no other chapter
// but chapter 2's generated contract, and nothing from internal/; it reads
// in a sitting (at most 1,000 lines of lesson code, each main.go at most
// 150 lines, each docs page at most 600).
package layout
